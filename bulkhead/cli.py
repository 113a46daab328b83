"""The ``bulkhead`` command: control the local platform and run each zone's work."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from bulkhead.platform import Platform, PlatformError, PlatformStatus, status_json
from bulkhead.settings import PlatformSettings

app = typer.Typer(
    help="Bulkhead: train on one Ray cluster, serve from another, meet only at the registry.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _settings() -> PlatformSettings:
    try:
        return PlatformSettings()
    except ValidationError as err:
        console.print(f"[red]invalid BULKHEAD_* settings:[/]\n{err}")
        raise typer.Exit(2) from err


def _platform() -> Platform:
    return Platform(_settings(), console=console)


def _print_status(status: PlatformStatus) -> None:
    table = Table(title="Bulkhead platform", show_lines=False)
    table.add_column("component")
    table.add_column("address")
    table.add_column("state")
    table.add_row("registry (MLflow)", status.mlflow_url, status.registry_state)
    for name, zone in status.zones.items():
        table.add_row(f"{name} zone (Ray)", zone.address, zone.state)
    console.print(table)
    console.print(f"model: [bold]{status.model_name}[/] champion: {status.champion_version or '—'}")
    console.print(f"serve URL: {status.serve_url}   API key file: {status.api_key_file}")
    if status.latest_snapshot:
        console.print(f"latest dataset snapshot: {status.latest_snapshot}")


@app.command()
def up(
    pipeline: Annotated[
        bool,
        typer.Option(
            "--pipeline/--no-pipeline",
            help="After the services, run the data pipeline (ingest) on the bundled data set.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Start the registry and one Ray cluster per zone (idempotent), then run the pipeline."""
    platform = _platform()
    try:
        platform.up()
    except PlatformError as err:
        console.print(f"[red]bulkhead up failed:[/] {err}")
        raise typer.Exit(1) from err
    if pipeline:
        from bulkhead.ingest_cli import run_ingest

        run_ingest(platform, source=None, text_column=None, label_column=None, seed=None)
    status = platform.status()
    if as_json:
        print(status_json(status))
    else:
        _print_status(status)


@app.command()
def down(
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete .bulkhead/ (secrets, registry, data).")
    ] = False,
) -> None:
    """Stop exactly what `up` started, by process session; never other Ray clusters."""
    stopped = _platform().down(purge=purge)
    console.print(f"stopped {stopped} service(s)")


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Show each zone, the registry, the champion model and where the secrets are."""
    result = _platform().status()
    if as_json:
        print(status_json(result))
    else:
        _print_status(result)
    if not result.all_running:
        raise typer.Exit(3)


@app.command()
def ingest(
    source: Annotated[
        Path | None,
        typer.Argument(help="CSV/Parquet/JSONL file; omit for the bundled Rotten Tomatoes set."),
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="Column with the text (default `text`).")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Column with the label (default `label`).")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="Keep only this label (repeatable).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Split seed (default 42).")] = None,
    log_to_registry: Annotated[
        bool,
        typer.Option(
            "--log-to-registry/--no-log-to-registry",
            help="Record the snapshot as dataset inputs of an MLflow run.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Clean, de-duplicate and split a data set on the ingest cluster into a snapshot."""
    from bulkhead.ingest_cli import run_ingest

    result = run_ingest(
        _platform(),
        source=source,
        text_column=text_column,
        label_column=label_column,
        seed=seed,
        labels=label,
        log_to_registry=log_to_registry,
    )
    if as_json:
        print(result.model_dump_json(indent=2))


def main() -> None:  # pragma: no cover - console script indirection for `python -m bulkhead`
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
