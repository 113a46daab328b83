"""One progress line for long runs of known length (chaos scenarios, bench legs): which one of
how many, time so far, and a rough time left from the average so far."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass
class Countdown:
    title: str
    total: int
    done: int = 0
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def next(self, name: str) -> str:
        """The line for the item that starts now, ``name``; counts the one before as done."""
        elapsed = time.monotonic() - self.started
        left = ""
        if self.done:
            left = f", about {minutes(elapsed / self.done * (self.total - self.done))} left"
        line = f"{self.title} {self.done + 1}/{self.total}: {name} ({minutes(elapsed)}{left})"
        self.done += 1
        return line
