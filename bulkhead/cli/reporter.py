"""The CLI's ``Reporter``: spinners, progress bars and coloured lines on stderr (rich)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bulkhead.platform.report import Progress as Update


class RichReporter:
    def __init__(self, console: Console) -> None:
        self.console = console

    def info(self, text: str) -> None:
        self.console.print(escape(text))

    def done(self, text: str) -> None:
        self.console.print(f"[green]✓[/] {escape(text)}")

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]{escape(text)}[/]")

    def fail(self, text: str) -> None:
        self.console.print(f"[red]✗ {escape(text)}[/]")

    def relay(self, line: str) -> None:
        self.console.print(f"  {line}", markup=False, highlight=False)

    def step(self, title: str) -> AbstractContextManager[None]:
        return self._step(title)

    @contextlib.contextmanager
    def _step(self, title: str) -> Iterator[None]:
        with self.console.status(f"[bold]{escape(title)}[/]…"):
            yield

    def progress(self, title: str, total: float) -> AbstractContextManager[Update]:
        return self._progress(title, total)

    @contextlib.contextmanager
    def _progress(self, title: str, total: float) -> Iterator[Update]:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task(escape(title), total=total)

            def update(label: str, completed: float) -> None:
                bar.update(task, completed=completed, description=escape(label))

            yield update
