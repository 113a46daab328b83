"""The ingest → train hand-off: parquet files per split plus a manifest with digests.

The content digest depends only on which (split, label, text) rows the snapshot holds, not
on file names, block layout or row order, so the same input and seed always give the same
digest. The training zone re-checks every file's sha256 before using a snapshot.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from contracts.digest import sha256_file
from contracts.snapshot import (
    FORMAT_VERSION,
    LATEST,
    MANIFEST,
    CleaningStats,
    FileEntry,
    Manifest,
    SnapshotError,
    SourceInfo,
    SplitStats,
    load_manifest,
    resolve,
    verify,
)
from ingestion.split import SPLITS
from ingestion.transforms import row_digest

# Re-exported: the zone's own code reads the contract through this module.
__all__ = [
    "FORMAT_VERSION",
    "LATEST",
    "MANIFEST",
    "CleaningStats",
    "FileEntry",
    "Manifest",
    "SnapshotError",
    "SourceInfo",
    "SplitStats",
    "describe",
    "load_manifest",
    "publish",
    "resolve",
    "verify",
]


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


def _slug(name: str) -> str:
    stem = name.split(".")[0].lower()
    return "".join(c if c.isalnum() else "-" for c in stem).strip("-") or "dataset"
