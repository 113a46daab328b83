"""The ingest job proper: a Ray Data pipeline on the ingest cluster.

read → clean + tag (map_batches) → de-duplicate (groupby/aggregate on the text key) →
stratified split (groupby label) → parquet per split → manifest. Every step runs as Ray
Data tasks; only counts and the final manifest come back to the driver.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.digest import sha256_file
from contracts.snapshot import FeedbackLineage
from ingestion import split as split_mod
from ingestion import transforms
from ingestion.schema import IngestConfig, IngestError, IngestJobSpec, IngestResult, SourceFormat
from ingestion.snapshot import CleaningStats, Manifest, SourceInfo, describe, publish
from ingestion.sources import ResolvedSource, resolve

log = logging.getLogger("bulkhead.ingest")


_STARTED = time.monotonic()


def _step(message: str) -> None:
    # Plain prefixed lines: the CLI relays them as progress, and they read well in job logs.
    print(f"[ingest] {time.monotonic() - _STARTED:6.1f}s {message}", flush=True)


def _read(source: ResolvedSource) -> Any:
    import pyarrow.csv as pacsv
    import ray.data

    path = str(source.path)
    if source.derive is not None:  # a bundled set built from a package's raw file
        import pandas as pd

        from ingestion import derive

        build = getattr(derive, source.derive)
        return ray.data.from_pandas(build(pd.read_csv(path, compression=source.compression)))
    if source.format is SourceFormat.CSV:
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        stream_args = {"compression": source.compression} if source.compression else {}
        return ray.data.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            arrow_open_stream_args=stream_args,
        )
    if source.format is SourceFormat.PARQUET:
        return ray.data.read_parquet(path)
    stream_args = {"compression": source.compression} if source.compression else {}
    return ray.data.read_json(path, lines=True, arrow_open_stream_args=stream_args)


# Ray Data's shuffle for the groupbys (de-duplication, split, counts). Its default (hash
# shuffle, "shuffle_v2") starts aggregator actors for each shuffle: on the 1-CPU ingest zone
# that cost ~16 s per snapshot whatever its size. The pull-based sort shuffle runs as tasks,
# one output per input block (a groupby's num_partitions applies to hash shuffles only).
# `make bench-ingest` (docs/zones/ingest.md has the figures): several times faster at the sizes
# here, the same snapshot digests.
SHUFFLE_STRATEGY = "sort_shuffle_pull_based"


def _status_counts(tagged: Any) -> dict[str, int]:
    counts = tagged.groupby("status").count().to_pandas()
    return {str(row["status"]): int(row["count()"]) for _, row in counts.iterrows()}


def _describe_error(err: BaseException) -> str:
    """The innermost message of an error Ray wrapped on its way back from a task."""
    text = str(err)
    for marker in ("IngestError: ", "ArrowInvalid: ", "ArrowTypeError: "):
        if marker in text:
            return text.rsplit(marker, 1)[1].strip().splitlines()[0]
    return text.strip().splitlines()[-1] if text.strip() else type(err).__name__


@dataclass
class Cleaned:
    """The usable rows and where every other input row went."""

    rows: Any  # ray.data.Dataset of usable rows
    status: dict[str, int]

    @property
    def rows_read(self) -> int:
        return sum(self.status.values())


@dataclass
class Deduplicated:
    rows: Any  # ray.data.Dataset: one row per distinct text
    label_counts: dict[str, int]
    duplicates: int
    conflicting: int


def build_snapshot(
    config: IngestConfig, snapshots_dir: Path, lineage: FeedbackLineage | None = None
) -> tuple[Path, bool, Manifest]:
    """Run the pipeline on the Ray cluster this process is connected to:
    read → clean → de-duplicate → split → write and describe → publish."""
    source = resolve(config)
    _step(f"source {source.name} ({source.format}) at {source.path}")
    cleaned = clean(source, config)
    deduplicated = deduplicate(cleaned)
    check_labels(deduplicated.label_counts, config.min_rows_per_label)
    splitted = split(deduplicated.rows, config)
    return write_snapshot(splitted, source, config, cleaned, deduplicated, snapshots_dir, lineage)


def clean(source: ResolvedSource, config: IngestConfig) -> Cleaned:
    """Read the source and tag every row: usable, empty, over-long or another label."""
    try:
        ds = _read(source)
        columns = list(ds.columns())
    except Exception as err:  # pyarrow/Ray raise many types for unreadable input
        raise IngestError(
            f"could not read {source.path} as {source.format}: {_describe_error(err)}"
        ) from err
    transforms.check_columns(columns, source.text_column, source.label_column)

    _step("cleaning: normalise text, tag empty, over-long and unwanted-label rows")
    try:
        tagged = ds.map_batches(
            transforms.clean_batch,
            batch_format="pandas",
            fn_kwargs={
                "text_column": source.text_column,
                "label_column": source.label_column,
                "labels": source.labels,
                "max_text_chars": config.max_text_chars,
            },
        ).materialize()
    except Exception as err:
        raise IngestError(
            f"could not read {source.path} as {source.format}: {_describe_error(err)}"
        ) from err
    status = _status_counts(tagged)
    ok_rows = status.get(transforms.OK, 0)
    _step(f"read {sum(status.values())} rows; {ok_rows} usable, by status: {status}")
    if ok_rows == 0:
        raise IngestError(
            f"no usable rows after cleaning ({sum(status.values())} read: {status}); check the "
            f"columns {source.text_column!r}/{source.label_column!r} and --labels"
        )
    return Cleaned(tagged.filter(lambda row: row["status"] == transforms.OK), status)


def deduplicate(cleaned: Cleaned) -> Deduplicated:
    """One row per case-folded text; a text seen with two labels is dropped in every copy."""
    from ray.data.aggregate import Count, Max, Min

    _step("de-duplicating on normalised, case-folded text")
    groups = (
        cleaned.rows.groupby("key")
        .aggregate(
            Count(alias_name="count"),
            Min("label", alias_name="min_label"),
            Max("label", alias_name="max_label"),
            Min("text", alias_name="text"),
        )
        .materialize()
    )
    deduped = groups.map_batches(split_mod.resolve_duplicates, batch_format="pandas").materialize()
    group_stats = groups.map_batches(_group_stats, batch_format="pandas").to_pandas()
    label_counts = _label_counts(deduped)
    _step(f"{sum(label_counts.values())} distinct texts by label: {label_counts}")
    return Deduplicated(
        rows=deduped,
        label_counts=label_counts,
        duplicates=int(group_stats["duplicate_rows"].sum()),
        conflicting=int(group_stats["conflicting_rows"].sum()),
    )


def check_labels(label_counts: dict[str, int], min_rows_per_label: int) -> None:
    if len(label_counts) < 2:
        only = next(iter(label_counts), "none")
        raise IngestError(
            f"only one class ({only!r}) left after cleaning; a classifier needs at least two"
        )
    small = {k: v for k, v in label_counts.items() if v < min_rows_per_label}
    if small:
        raise IngestError(
            f"label(s) {small} have fewer than min_rows_per_label={min_rows_per_label} "
            "rows after cleaning; add data or drop them with --labels"
        )


def split(deduped: Any, config: IngestConfig) -> Any:
    """Stratified per label, seeded by a hash of the text (independent of row order)."""
    _step(
        f"stratified split (seed {config.seed}, validation {config.validation_fraction:g}, "
        f"test {config.test_fraction:g})"
    )
    return (
        deduped.groupby("label")
        .map_groups(
            split_mod.assign_splits,
            batch_format="pandas",
            fn_kwargs={
                "seed": config.seed,
                "validation_fraction": config.validation_fraction,
                "test_fraction": config.test_fraction,
            },
        )
        .materialize()
    )


def write_snapshot(
    splitted: Any,
    source: ResolvedSource,
    config: IngestConfig,
    cleaned: Cleaned,
    deduplicated: Deduplicated,
    snapshots_dir: Path,
    lineage: FeedbackLineage | None = None,
) -> tuple[Path, bool, Manifest]:
    """Write into a staging folder, describe it, and move it into place only when complete."""
    snapshots_dir.mkdir(parents=True, exist_ok=True)
    staging = snapshots_dir / f".staging-{uuid.uuid4().hex[:12]}"
    status = cleaned.status
    try:
        for name in split_mod.SPLITS:
            part = splitted.filter(lambda row, name=name: row["split"] == name)
            part.select_columns(["text", "label"]).write_parquet(str(staging / name))
        cleaning = CleaningStats(
            rows_read=cleaned.rows_read,
            empty=status.get(transforms.EMPTY, 0),
            too_long=status.get(transforms.TOO_LONG, 0),
            other_label=status.get(transforms.OTHER_LABEL, 0),
            duplicates=deduplicated.duplicates,
            conflicting=deduplicated.conflicting,
            rows_kept=sum(deduplicated.label_counts.values()),
        )
        manifest = describe(
            staging,
            SourceInfo(
                name=source.name,
                path=str(source.path),
                format=source.format.value,
                sha256=sha256_file(source.path),
                text_column=source.text_column,
                label_column=source.label_column,
            ),
            seed=config.seed,
            validation_fraction=config.validation_fraction,
            test_fraction=config.test_fraction,
            cleaning=cleaning,
        ).model_copy(update={"lineage": lineage})
        folder, created = publish(staging, manifest, snapshots_dir)
        return folder, created, manifest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _group_stats(groups: pd.DataFrame) -> pd.DataFrame:
    conflicting = groups["min_label"] != groups["max_label"]
    return pd.DataFrame(
        {
            "conflicting_rows": groups["count"].where(conflicting, 0).astype("int64"),
            "duplicate_rows": (groups["count"] - 1).where(~conflicting, 0).astype("int64"),
        }
    )


def _label_counts(deduped: Any) -> dict[str, int]:
    counts = deduped.groupby("label").count().to_pandas()
    return {
        str(row["label"]): int(row["count()"]) for _, row in counts.sort_values("label").iterrows()
    }


def log_to_registry(manifest: Manifest, folder: Path, experiment_name: str) -> str | None:
    """Record the snapshot as an MLflow run with one dataset input per split."""
    from registry.credentials import RegistryCredentials

    credentials = RegistryCredentials.from_environment()
    if credentials is None:
        _step("no registry credentials in this zone; snapshot not logged to MLflow")
        return None
    credentials.activate()
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    # Generated at import time from the registered artifact repositories, so mypy cannot see it.
    from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]

    mlflow.set_experiment(experiment_name)
    with mlflow.start_run(
        run_name=f"ingest-{manifest.digest[:12]}",
        tags={"bulkhead.zone": "ingest", "bulkhead.dataset_digest": manifest.digest},
    ) as run:
        mlflow.log_params(
            {
                "source": manifest.source.name,
                "source_sha256": manifest.source.sha256,
                "seed": manifest.seed,
                "validation_fraction": manifest.validation_fraction,
                "test_fraction": manifest.test_fraction,
                "labels": ",".join(manifest.labels),
            }
        )
        metrics = {f"rows_{name}": float(stats.rows) for name, stats in manifest.splits.items()}
        metrics.update(
            {f"cleaning_{k}": float(v) for k, v in manifest.cleaning.model_dump().items()}
        )
        mlflow.log_metrics(metrics)
        for name in manifest.splits:
            # MetaDataset's `profile` is abstract in the stubs but optional at run time.
            dataset = MetaDataset(  # type: ignore[abstract]
                source=LocalArtifactDatasetSource(str(folder / name)),
                name=f"{folder.name}/{name}",
                digest=manifest.digest[:20],
            )
            mlflow.log_input(dataset, context=name)
        mlflow.log_dict(manifest.model_dump(), "snapshot/manifest.json")
        run_id: str = run.info.run_id
    return run_id


# Ray Data leaves two detached actors behind on the cluster after a job (its stats actor and
# its autoscaling coordinator): ~240 MB and ~1.3 % of a core on an idle ingest zone, kept for
# nothing until the next job, which creates them again.
RAY_DATA_DETACHED_ACTORS = (
    ("datasets_stats_actor", "_dataset_stats_actor"),
    ("AutoscalingCoordinator", "AutoscalingCoordinator"),
)


def release_ray_data_actors() -> None:
    import ray

    for name, namespace in RAY_DATA_DETACHED_ACTORS:
        try:
            ray.kill(ray.get_actor(name, namespace=namespace))
        except Exception:  # absent (nothing used Ray Data) or already gone: nothing to free
            continue


def run(spec: IngestJobSpec) -> IngestResult:
    import ray

    started = time.monotonic()
    config, lineage, staged = spec.config, None, None
    if spec.from_feedback is not None:
        from ingestion.feedback import merge_feedback

        config, lineage, staged = merge_feedback(spec.from_feedback, spec.snapshots_dir, _step)
    resolve(config)  # fail on a missing file before touching the cluster
    ray.init(address=spec.ray_address, logging_level=logging.WARNING, log_to_driver=False)
    try:
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.shuffle_strategy = SHUFFLE_STRATEGY
        folder, created, manifest = build_snapshot(config, spec.snapshots_dir, lineage)
    finally:
        release_ray_data_actors()
        ray.shutdown()
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    _step(f"snapshot {'written' if created else 'unchanged'}: {folder} digest {manifest.digest}")
    run_id = None
    if spec.experiment_name:
        run_id = log_to_registry(manifest, folder, spec.experiment_name)
        if run_id:
            _step(f"logged dataset inputs to MLflow run {run_id}")
    totals: dict[str, int] = {}
    for stats in manifest.splits.values():
        for label, count in stats.labels.items():
            totals[label] = totals.get(label, 0) + count
    return IngestResult(
        snapshot=str(folder),
        created=created,
        digest=manifest.digest,
        rows={name: stats.rows for name, stats in manifest.splits.items()},
        labels=totals,
        cleaning=manifest.cleaning,
        mlflow_run_id=run_id,
        seconds=round(time.monotonic() - started, 1),
        lineage=manifest.lineage,
    )
