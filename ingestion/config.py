"""What an ingest run reads and how it splits it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class IngestConfig(BaseModel):
    """One ingest run. ``source=None`` means the bundled Rotten Tomatoes data set."""

    model_config = ConfigDict(extra="forbid")

    source: Path | None = Field(
        None, description="CSV (optionally .gz/.bz2), Parquet or JSONL file; None = bundled set."
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

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> IngestConfig:
        if self.validation_fraction + self.test_fraction >= 0.6:
            raise ValueError("validation_fraction + test_fraction must stay below 0.6")
        return self


class IngestJobSpec(BaseModel):
    """What the CLI hands the job it submits to the ingest cluster."""

    model_config = ConfigDict(extra="forbid")

    config: IngestConfig
    ray_address: str = Field(description="GCS address of the ingest cluster.")
    snapshots_dir: Path = Field(description="Folder under which the snapshot is written.")
    experiment_name: str | None = Field(
        None, description="MLflow experiment to log the dataset input to; None = do not log."
    )
