"""``bulkhead keys``: per-client API keys scoped to models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from bulkhead.cli.common import JsonOption, console, exits, platform

app = typer.Typer(help="Per-client API keys, each scoped to the models it may call.")


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="Who holds the key (a client, a team).")],
    model: Annotated[
        list[str],
        typer.Option("--model", help="A model it may call (repeatable); '*' = every model."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Issue a key: printed once, stored as a digest; replicas accept it within a second."""
    from bulkhead.operations import keys

    with exits():
        issued = keys.add(platform(), name, model)
    if as_json:
        print(issued.model_dump_json(indent=2))
        return
    console.print(f"[green]✓[/] key {issued.id} for {issued.name}: {', '.join(issued.models)}")
    console.print("  shown once, stored only as a digest; send it as")
    print(issued.header)


@app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """Every live key: id, holder, models, created (never the key)."""
    from bulkhead.operations import keys

    with exits():
        found = keys.load(platform()).keys
    if as_json:
        rows = [key.model_dump(exclude={"sha256"}) for key in found]
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="client API keys")
    for column in ("id", "name", "models", "created (UTC)"):
        table.add_column(column)
    for key in found:
        created = datetime.fromtimestamp(key.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(key.id, key.name, ", ".join(key.models), created)
    console.print(table)


@app.command()
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id (or name).")],
    as_json: JsonOption = False,
) -> None:
    """Remove a key: replicas refuse it (401) within a second."""
    from bulkhead.operations import keys

    with exits():
        gone = keys.revoke(platform(), key)
    if as_json:
        print(json.dumps({"revoked": gone.id, "name": gone.name}))
        return
    console.print(f"[green]✓[/] revoked {gone.id} ({gone.name})")
