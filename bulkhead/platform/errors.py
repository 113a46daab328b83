"""The one error a platform step raises."""

from __future__ import annotations


class PlatformError(RuntimeError):
    """A platform step failed; the message names the step and the cause."""
