"""How the train job reports: prefixed lines the CLI relays, and the fault-injection hook."""

from __future__ import annotations

import os
from typing import Literal

FaultPoint = Literal["after-register", "after-gate"]


def log(message: str) -> None:
    print(f"[train] {message}", flush=True)


def maybe_crash(inject_fault: FaultPoint | None, point: FaultPoint) -> None:
    """Reliability tests only: the job process dies here, as a killed one would."""
    if inject_fault == point:
        log(f"injected fault: the job dies {point}")
        os._exit(70)  # no cleanup, no finally
