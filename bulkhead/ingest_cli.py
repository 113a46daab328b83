"""``bulkhead ingest``: build a dataset snapshot on the ingest cluster."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer
from rich.markup import escape

from bulkhead.identity import Role
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
    if config.source is not None:
        config = config.model_copy(
            update={"source": hand_to_ingest(platform, config.source.expanduser().resolve())}
        )
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


def hand_to_ingest(platform: Platform, source: Path) -> Path:
    """Copy the operator's file into the ingest zone's inbox, owned by the ingest identity.

    The ingest zone reads nothing of the operator's: what it is to ingest is handed to it,
    as a KubeRay job would find it on its own volume.
    """
    from registry.digest import sha256_file

    state = platform.load_state()
    folder = platform.paths.ingest_inbox / sha256_file(source)[:16]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copyfile(source, target)
    owner = state.identities.of(Role.INGEST) if state.identities is not None else None
    for path in (folder, target):
        if owner is not None:
            os.chown(path, owner.uid, owner.gid)
    folder.chmod(0o700)
    target.chmod(0o600)
    return target
