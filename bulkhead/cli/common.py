"""What every command module shares: the console, the platform, the error-to-exit mapping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from bulkhead.cli.exit_codes import ExitCode, for_error
from bulkhead.cli.reporter import RichReporter
from bulkhead.operations.errors import OperationError
from bulkhead.platform.core import Platform
from bulkhead.platform.settings import PlatformSettings

console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Registered model to act on (default: the default model, BULKHEAD_DEFAULT_MODEL).",
    ),
]


def settings() -> PlatformSettings:
    try:
        return PlatformSettings()
    except ValidationError as err:
        console.print(f"[red]invalid BULKHEAD_* settings:[/]\n{escape(str(err))}")
        raise typer.Exit(ExitCode.BAD_INPUT) from err


def platform(model: str | None = None) -> Platform:
    try:
        return Platform(settings(), reporter=RichReporter(console), model=model)
    except ValueError as err:
        console.print(f"[red]{escape(str(err))}[/]")
        raise typer.Exit(ExitCode.BAD_INPUT) from err


@contextmanager
def exits() -> Iterator[None]:
    """An operation's error: its message in red, its kind as the exit code."""
    try:
        yield
    except OperationError as err:
        console.print(f"[red]{escape(str(err))}[/]")
        raise typer.Exit(for_error(err)) from err
