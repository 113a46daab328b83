"""The ``bulkhead`` command (Typer): parse, call the platform or an operation, render."""

from bulkhead.cli.app import app, main

__all__ = ["app", "main"]
