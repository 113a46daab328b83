"""How long-running platform work reports progress without knowing about a terminal.

The platform and the operations call a ``Reporter``; the CLI passes one that draws with rich,
tests and scripts pass ``LogReporter`` (plain log lines) or their own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

log = logging.getLogger("bulkhead")


class Reporter(Protocol):
    def info(self, text: str) -> None:
        """A neutral line (what is about to happen, a figure)."""

    def done(self, text: str) -> None:
        """A step that finished as it should."""

    def warn(self, text: str) -> None:
        """Something the operator should look at; the work goes on."""

    def fail(self, text: str) -> None:
        """A step that failed (the caller raises afterwards)."""

    def relay(self, line: str) -> None:
        """A progress line from a zone's job, shown as is."""

    def step(self, title: str) -> AbstractContextManager[None]:
        """Wraps a step that takes a while (the CLI shows a spinner)."""

    def progress(self, title: str, total: float) -> AbstractContextManager[Progress]:
        """Wraps work of a known length (seconds, items); the caller reports how far it is."""


# update(label, completed): where the work is now.
Progress = Callable[[str, float], None]


class LogReporter:
    """Plain ``logging`` lines: for tests, scripts and anything without a terminal."""

    def info(self, text: str) -> None:
        log.info(text)

    def done(self, text: str) -> None:
        log.info("✓ %s", text)

    def warn(self, text: str) -> None:
        log.warning(text)

    def fail(self, text: str) -> None:
        log.error(text)

    def relay(self, line: str) -> None:
        log.info("  %s", line)

    @contextlib.contextmanager
    def _step(self, title: str) -> Iterator[None]:
        log.info("%s…", title)
        yield

    def step(self, title: str) -> AbstractContextManager[None]:
        return self._step(title)

    @contextlib.contextmanager
    def _progress(self, title: str, total: float) -> Iterator[Progress]:
        log.info("%s (%g)…", title, total)
        last = [""]

        def update(label: str, completed: float) -> None:
            if label != last[0]:  # one line per stage, not one per tick
                last[0] = label
                log.info("%s: %.0f/%g", label, completed, total)

        yield update

    def progress(self, title: str, total: float) -> AbstractContextManager[Progress]:
        return self._progress(title, total)
