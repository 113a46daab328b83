"""Why an operation stopped; the CLI maps each kind to one exit code (cli/exit_codes.py)."""

from __future__ import annotations


class OperationError(RuntimeError):
    """An operation could not do what was asked; the message says why and what to do."""


class BadInput(OperationError):
    """Arguments, settings, a config file, a snapshot or a data file are unusable."""


class NotRunning(OperationError):
    """The platform, or the zone the operation needs, is not running."""


class OperationFailed(OperationError):
    """The work started and failed (a job crashed, a deploy never became ready)."""


class GateFailed(OperationError):
    """A version was trained and registered with its evidence, but failed the gate."""


class Refused(OperationError):
    """The registry refused a promotion or a rollback."""
