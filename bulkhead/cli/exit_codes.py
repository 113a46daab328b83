"""Every exit code of the ``bulkhead`` command, one meaning each."""

from __future__ import annotations

from enum import IntEnum

from bulkhead.operations.errors import (
    BadInput,
    GateFailed,
    NotRunning,
    OperationError,
    OperationFailed,
    Refused,
)


class ExitCode(IntEnum):
    OK = 0
    # Work started and failed; a chaos goal was missed; isolation does not hold.
    FAILED = 1
    # Bad arguments, settings, config file, snapshot or data file: nothing was started.
    BAD_INPUT = 2
    # A version was trained and registered, and failed the gate (it is not aliased).
    GATE_FAILED = 3
    # The registry refused a promotion or rollback.
    REFUSED = 4
    # The platform, or the zone a command needs, is not running (`status`: not all running).
    NOT_RUNNING = 5
    # `monitor`: a statistic says production drifted from the champion's snapshot (the
    # monitor itself worked; 1 means it failed).
    DRIFT = 6
    # Interrupted with Ctrl-C.
    INTERRUPTED = 130


_BY_ERROR: dict[type[OperationError], ExitCode] = {
    BadInput: ExitCode.BAD_INPUT,
    NotRunning: ExitCode.NOT_RUNNING,
    OperationFailed: ExitCode.FAILED,
    GateFailed: ExitCode.GATE_FAILED,
    Refused: ExitCode.REFUSED,
}


def for_error(error: OperationError) -> ExitCode:
    for kind in type(error).__mro__:
        if kind in _BY_ERROR:
            return _BY_ERROR[kind]
    return ExitCode.FAILED
