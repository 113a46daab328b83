"""``bulkhead signing``: the keys the model signer signs with, and their rotation."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bulkhead.cli.common import JsonOption, console, exits, platform

app = typer.Typer(help="Model-signing keys: list them, rotate the active one, retire old ones.")


@app.command("keys")
def list_keys(as_json: JsonOption = False) -> None:
    """Every signing key: id, state (active, trusted, retired), created."""
    from bulkhead.operations import signing

    with exits():
        rows = signing.keys(platform())
    if as_json:
        print(json.dumps([row.model_dump() for row in rows], indent=2))
        return
    table = Table(title="model-signing keys (the serve zone trusts active and trusted ones)")
    for column in ("key id", "state", "created (UTC)"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.key_id, row.state, row.created_at)
    console.print(table)


@app.command()
def rotate(
    compromised: Annotated[
        bool,
        typer.Option(
            "--compromised",
            help="The old key may have leaked: retire it at once and have the signer judge "
            "everything it signed again (nothing carried forward; brief 503s meanwhile).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """A new active key; the old one stays trusted until you retire it (nothing stops)."""
    from bulkhead.operations import signing

    with exits():
        done = signing.rotate(platform(), compromised)
    if as_json:
        print(done.model_dump_json(indent=2))
        return
    console.print(f"[green]✓[/] new signing key {done.new_key[:12]} (was {done.old_key[:12]})")
    for number, step in enumerate(done.steps, 1):
        console.print(f"  {number}. {step}")


@app.command()
def retire(
    key: Annotated[str, typer.Argument(help="The key id (8 or more characters of it).")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Retire even while aliased versions are signed only by it."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Take a key out of the serve zone's ring: versions only it signed stop being served."""
    from bulkhead.operations import signing

    with exits():
        done = signing.retire(platform(), key, force)
    if as_json:
        print(done.model_dump_json(indent=2))
        return
    console.print(f"[green]✓[/] retired key {done.key[:12]}; replicas drop it within a poll")
    for row in done.still_signed:
        console.print(f"  [yellow]no longer served:[/] {row.model} v{row.version}")


@app.command()
def ring() -> None:
    """Print the serve zone's key ring: public keys only, JSON (a KubeRay ConfigMap's)."""
    from bulkhead.platform import signing_keys

    with exits():
        found = signing_keys.ring(platform().paths)
    print(found.model_dump_json(indent=1))
