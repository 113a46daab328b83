"""The ingest → train hand-off: parquet files per split plus a manifest with digests.

The content digest depends only on which (split, label, text) rows the snapshot holds, not
on file names, block layout or row order, so the same input and seed always give the same
digest. The training zone re-checks every file's sha256 before using a snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from ingestion.split import SPLITS
from ingestion.transforms import row_digest
from registry.digest import sha256_file

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

    @property
    def total_rows(self) -> int:
        return sum(s.rows for s in self.splits.values())


class SnapshotError(RuntimeError):
    """A snapshot on disk does not match its manifest."""


def _split_files(folder: Path, split: str) -> list[Path]:
    return sorted((folder / split).glob("*.parquet"))


def describe(
    folder: Path,
    source: SourceInfo,
    seed: int,
    validation_fraction: float,
    test_fraction: float,
    cleaning: CleaningStats,
) -> Manifest:
    """Read the written split files back and build the manifest, digest included."""
    row_digests: list[str] = []
    splits: dict[str, SplitStats] = {}
    all_labels: set[str] = set()
    for split in SPLITS:
        files = []
        label_counts: dict[str, int] = {}
        rows = 0
        for file in _split_files(folder, split):
            table = pq.read_table(file, columns=["text", "label"])
            texts = table.column("text").to_pylist()
            labels = table.column("label").to_pylist()
            for text, label in zip(texts, labels, strict=True):
                row_digests.append(row_digest(split, label, text))
                label_counts[label] = label_counts.get(label, 0) + 1
            rows += table.num_rows
            files.append(
                FileEntry(
                    path=str(file.relative_to(folder)),
                    sha256=sha256_file(file),
                    rows=table.num_rows,
                    bytes=file.stat().st_size,
                )
            )
        all_labels.update(label_counts)
        splits[split] = SplitStats(
            rows=rows, labels=dict(sorted(label_counts.items())), files=files
        )
    content = hashlib.sha256(f"bulkhead-snapshot-v{FORMAT_VERSION}\n".encode())
    for digest in sorted(row_digests):
        content.update(bytes.fromhex(digest))
    return Manifest(
        digest=content.hexdigest(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
        seed=seed,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        labels=sorted(all_labels),
        splits=splits,
        cleaning=cleaning,
    )


def publish(staging: Path, manifest: Manifest, snapshots_dir: Path) -> tuple[Path, bool]:
    """Move a finished staging folder into place, named by content digest.

    Returns the snapshot folder and whether it was new. An identical snapshot already in
    place is kept (its files are the same bytes' worth of content) and the staging removed.
    """
    name = f"{_slug(manifest.source.name)}-{manifest.digest[:12]}"
    target = snapshots_dir / name
    (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    if target.exists():
        shutil.rmtree(staging)
        _point_latest_at(snapshots_dir, name)
        return target, False
    os.replace(staging, target)
    _point_latest_at(snapshots_dir, name)
    return target, True


def _point_latest_at(snapshots_dir: Path, name: str) -> None:
    """Record the newest snapshot so a scheduled training job (a KubeRay RayJob whose spec
    cannot know the digest in advance) can name the folder instead of one snapshot."""
    tmp = snapshots_dir / f".{LATEST}.tmp"
    tmp.write_text(name + "\n")
    os.replace(tmp, snapshots_dir / LATEST)


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


def _slug(name: str) -> str:
    stem = name.split(".")[0].lower()
    return "".join(c if c.isalnum() else "-" for c in stem).strip("-") or "dataset"
