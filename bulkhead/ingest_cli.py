"""``bulkhead ingest``: build a dataset snapshot on the ingest cluster."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from bulkhead.jobs import run_module_job
from bulkhead.platform import Platform
from bulkhead.settings import Zone
from ingestion.config import IngestConfig, IngestJobSpec
from ingestion.errors import IngestError
from ingestion.job import encode_spec
from ingestion.pipeline import IngestResult
from ingestion.sources import resolve

INGEST_TIMEOUT_S = 900.0


def run_ingest(
    platform: Platform,
    source: Path | None,
    text_column: str | None,
    label_column: str | None,
    seed: int | None,
    labels: list[str] | None = None,
    log_to_registry: bool = True,
) -> IngestResult:
    console = platform.console
    config = IngestConfig(
        source=source,
        text_column=text_column,
        label_column=label_column,
        labels=labels,
        **({"seed": seed} if seed is not None else {}),
    )
    try:
        resolve(config)  # bad paths fail here, in a second, not after a job start-up
    except IngestError as err:
        console.print(f"[red]ingest: {escape(str(err))}[/]")
        raise typer.Exit(2) from err
    state = platform.load_state()
    zone = state.zones.get(Zone.INGEST)
    if zone is None:
        console.print("[red]ingest: the ingest zone is not running; run `bulkhead up`[/]")
        raise typer.Exit(3)
    spec = IngestJobSpec(
        config=config,
        ray_address=zone.gcs_address,
        snapshots_dir=platform.paths.snapshots,
        experiment_name=platform.settings.ingest_experiment_name if log_to_registry else None,
    )
    outcome = run_module_job(
        console,
        zone,
        "ingestion.job",
        encode_spec(spec),
        "ingest job on the ingest cluster",
        INGEST_TIMEOUT_S,
    )
    if not outcome.succeeded or outcome.result is None:
        console.print(f"[red]ingest failed ({outcome.job_id}):[/] {escape(str(outcome.error))}")
        raise typer.Exit(2 if outcome.status == "FAILED" else 1)
    result = IngestResult.model_validate(outcome.result)
    state = platform.load_state()
    state.latest_snapshot = Path(result.snapshot)
    platform.save_state(state)
    console.print(
        f"[green]✓[/] snapshot {result.snapshot}\n"
        f"  rows {result.rows} labels {result.labels}\n"
        f"  digest {result.digest} ({result.seconds:.0f} s)"
    )
    return result
