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
from bulkhead.platform.errors import PlatformError
from bulkhead.platform.secrets import SecretFileError
from bulkhead.platform.settings import PlatformSettings
from bulkhead.platform.zone_files import ZoneFileError

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
    """The platform the settings name (its saved state read: an unreadable one is an error
    line and exit 1, as in every command)."""
    with exits():
        try:
            return Platform(settings(), reporter=RichReporter(console), model=model)
        except ValueError as err:
            console.print(f"[red]{escape(str(err))}[/]")
            raise typer.Exit(ExitCode.BAD_INPUT) from err


@contextmanager
def exits() -> Iterator[None]:
    """An operation's error: its message in red, its kind as the exit code. What the platform
    refuses (a linked folder, a secret it will not touch) and what the file system refuses
    are one line and exit 1, never a traceback."""
    try:
        yield
    except OperationError as err:
        console.print(f"[red]{escape(str(err))}[/]")
        raise typer.Exit(for_error(err)) from err
    except (PlatformError, ZoneFileError, SecretFileError) as err:
        console.print(f"[red]{escape(str(err))}[/]")
        raise typer.Exit(ExitCode.FAILED) from err
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        console.print(f"[red]{escape(err.strerror or str(err))}{escape(str(where))}[/]")
        raise typer.Exit(ExitCode.FAILED) from err
