"""The ingest → train hand-off: a snapshot folder of parquet files per split and a manifest.

The manifest lists every file with its sha256; the training zone (and the control plane,
before it submits a job) re-checks every file before using a snapshot. Reading a manifest
needs no pyarrow: the parquet files are only hashed here.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from contracts.digest import sha256_file
from contracts.drop import DropFile

MANIFEST = "manifest.json"
# Names the newest snapshot in a snapshots folder.
LATEST = "LATEST"
FORMAT_VERSION = 1


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Path relative to the snapshot folder.")
    sha256: str
    rows: int
    bytes: int


class SplitStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: int
    labels: dict[str, int] = Field(description="Rows per label.")
    files: list[FileEntry]


class CleaningStats(BaseModel):
    """Where every input row went."""

    model_config = ConfigDict(extra="forbid")

    rows_read: int
    empty: int = Field(description="Rows with an empty or missing text or label.")
    too_long: int = Field(description="Rows whose text exceeds max_text_chars.")
    other_label: int = Field(description="Rows with a label outside the kept labels.")
    duplicates: int = Field(description="Extra copies of a text (after normalisation).")
    conflicting: int = Field(description="Rows of texts seen with more than one label.")
    rows_kept: int


class SourceInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    path: str
    format: str
    sha256: str
    text_column: str
    label_column: str


class FeedbackLineage(BaseModel):
    """Where a snapshot built by `ingest --from-feedback` came from: the snapshot it extends
    and exactly which drop records (contracts/drop.py) it took."""

    model_config = ConfigDict(extra="forbid")

    base_snapshot: str = Field(description="Folder name of the snapshot it extends.")
    base_digest: str
    base_rows: int
    feedback_rows: int = Field(description="Labelled production texts added.")
    request_ids: int = Field(description="Distinct requests those texts came from.")
    request_ids_sha256: str = Field(description="sha256 of the sorted `request_id:index` list.")
    drop_files: list[DropFile] = Field(description="Every drop file read, as read.")
    unmatched: int = Field(description="Feedback naming a prediction that was not logged.")
    conflicting: int = Field(description="Texts given two different labels (left out).")
    without_text: int = Field(description="Feedback on predictions logged as a hash only.")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    digest: str = Field(description="sha256 of the snapshot's content (rows, labels, splits).")
    created_at: str
    source: SourceInfo
    seed: int
    validation_fraction: float
    test_fraction: float
    labels: list[str]
    splits: dict[str, SplitStats]
    cleaning: CleaningStats
    lineage: FeedbackLineage | None = Field(
        None, description="Set when built from production feedback (`ingest --from-feedback`)."
    )

    @property
    def total_rows(self) -> int:
        return sum(s.rows for s in self.splits.values())


class SnapshotError(RuntimeError):
    """A snapshot on disk does not match its manifest."""


def resolve(path: Path) -> Path:
    """A snapshot folder as given, or the newest one when ``path`` is the snapshots folder."""
    if not (path / MANIFEST).exists() and (path / LATEST).is_file():
        return path / (path / LATEST).read_text().strip()
    return path


def load_manifest(folder: Path) -> Manifest:
    return Manifest.model_validate(json.loads((folder / MANIFEST).read_text()))


def verify(folder: Path) -> Manifest:
    """Check every file against the manifest; raise ``SnapshotError`` on any mismatch."""
    manifest = load_manifest(folder)
    for split, stats in manifest.splits.items():
        for entry in stats.files:
            file = folder / entry.path
            if not file.is_file():
                raise SnapshotError(f"{split} file {entry.path} is missing from {folder}")
            actual = sha256_file(file)
            if actual != entry.sha256:
                raise SnapshotError(
                    f"{split} file {entry.path} has sha256 {actual}, manifest says {entry.sha256}"
                )
    return manifest
