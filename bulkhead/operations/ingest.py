"""``bulkhead ingest``: build a dataset snapshot on the ingest cluster."""

from __future__ import annotations

from pathlib import Path

from bulkhead.operations.errors import BadInput, NotRunning, OperationFailed
from bulkhead.platform import zone_files
from bulkhead.platform.core import Platform
from bulkhead.platform.identity import Role
from bulkhead.platform.jobs import run_module_job
from bulkhead.platform.settings import Zone
from contracts.digest import sha256_file
from contracts.jobs import encode_spec
from ingestion.schema import (
    FeedbackInput,
    IngestConfig,
    IngestError,
    IngestJobSpec,
    IngestResult,
    check_source,
)

INGEST_TIMEOUT_S = 900.0


def run_ingest(
    platform: Platform,
    source: Path | None,
    text_column: str | None,
    label_column: str | None,
    seed: int | None,
    labels: list[str] | None = None,
    log_to_registry: bool = True,
    dataset: str | None = None,
    from_feedback: bool = False,
) -> IngestResult:
    """Submit one ingest job and record its snapshot as the latest of the platform's current
    model (``dataset`` None: that model's configured bundled set). ``from_feedback``: the
    model's current snapshot plus the labelled texts in the payload drop."""
    reporter = platform.reporter
    try:
        config = IngestConfig(
            source=source,
            text_column=text_column,
            label_column=label_column,
            labels=labels,
            dataset=dataset or platform.model.dataset,
            **({"seed": seed} if seed is not None else {}),
        )
    except ValueError as err:
        raise BadInput(f"ingest: {err}") from err
    try:
        if config.source is not None:  # bad paths fail here, not after a job start-up
            check_source(config.source)
    except IngestError as err:
        raise BadInput(f"ingest: {err}") from err
    state = platform.load_state()
    zone = state.zones.get(Zone.INGEST)
    if zone is None:
        raise NotRunning("ingest: the ingest zone is not running; run `bulkhead up`")
    if config.source is not None:
        config = config.model_copy(
            update={"source": hand_to_ingest(platform, config.source.expanduser().resolve())}
        )
    feedback = None
    if from_feedback:
        if source is not None:
            raise BadInput("ingest: --from-feedback builds on the model's snapshot; give no file")
        base = platform.model_snapshot()
        if base is None:
            raise BadInput(
                f"ingest: {platform.model_name!r} has no snapshot to add feedback to; "
                "run `bulkhead ingest` first"
            )
        feedback = FeedbackInput(
            drop_dir=platform.paths.drop_records,
            model=platform.model_name,
            base_snapshot=base,
        )
    spec = IngestJobSpec(
        from_feedback=feedback,
        config=config,
        ray_address=zone.gcs_address,
        snapshots_dir=platform.paths.snapshots,
        experiment_name=platform.settings.ingest_experiment_name if log_to_registry else None,
    )
    outcome = run_module_job(
        reporter,
        zone,
        "ingestion.job",
        encode_spec(spec),
        "ingest job on the ingest cluster",
        INGEST_TIMEOUT_S,
    )
    if not outcome.succeeded or outcome.result is None:
        message = f"ingest failed ({outcome.job_id}): {outcome.error}"
        # A job that ended FAILED with its own error line refused the input.
        raise BadInput(message) if outcome.status == "FAILED" else OperationFailed(message)
    result = IngestResult.model_validate(outcome.result)
    state = platform.load_state()
    state.latest_snapshots[platform.model_name] = Path(result.snapshot)
    platform.save_state(state)
    reporter.done(
        f"snapshot {result.snapshot}\n  rows {result.rows} labels {result.labels}\n"
        f"  digest {result.digest} ({result.seconds:.0f} s)"
    )
    return result


def hand_to_ingest(platform: Platform, source: Path) -> Path:
    """Copy the operator's file into the ingest zone's inbox, owned by the ingest identity.

    The ingest zone reads nothing of the operator's: what it is to ingest is handed to it,
    as a KubeRay job would find it on its own volume.
    """
    state = platform.load_state()
    folder = platform.paths.ingest_inbox / sha256_file(source)[:16]
    target = folder / source.name
    owner = state.identities.of(Role.INGEST) if state.identities is not None else None
    uid, gid = (owner.uid, owner.gid) if owner is not None else (-1, -1)
    # The inbox is the ingest zone's: through descriptors, so a link it planted at a name it
    # can guess (an earlier hand-over's) redirects nothing (bulkhead/platform/zone_files.py).
    zone_files.make_dir(folder, 0o700, uid=uid, gid=gid)
    zone_files.copy_file(source, target, 0o600, uid=uid, gid=gid)
    return target
