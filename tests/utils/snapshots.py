"""Small, real dataset snapshots for tests that must not start Ray."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.snapshot import CleaningStats, SourceInfo, describe, publish

_GOOD = ["wonderful", "moving", "brilliant", "funny", "gorgeous", "sharp"]
_BAD = ["dull", "tedious", "clumsy", "lifeless", "boring", "messy"]


def synthetic_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "fresh" if i % 2 else "rotten"
        words = rng.sample(_GOOD if label == "fresh" else _BAD, 3)
        rows.append((f"a {words[0]} , {words[1]} and {words[2]} film number {i}", label))
    return rows


def make_snapshot(
    root: Path, n: int = 240, seed: int = 0, source_name: str = "synthetic.csv"
) -> Path:
    rows = synthetic_rows(n, seed)
    staging = root / ".staging"
    cuts = {"train": rows[: int(n * 0.8)], "validation": rows[int(n * 0.8) : int(n * 0.9)]}
    cuts["test"] = rows[int(n * 0.9) :]
    for split, items in cuts.items():
        (staging / split).mkdir(parents=True)
        table = pa.table({"text": [t for t, _ in items], "label": [lab for _, lab in items]})
        pq.write_table(table, staging / split / "part-0.parquet")
    manifest = describe(
        staging,
        SourceInfo(
            name=source_name,
            path="/synthetic.csv",
            format="csv",
            sha256="0" * 64,
            text_column="text",
            label_column="label",
        ),
        seed=seed,
        validation_fraction=0.1,
        test_fraction=0.1,
        cleaning=CleaningStats(
            rows_read=n,
            empty=0,
            too_long=0,
            other_label=0,
            duplicates=0,
            conflicting=0,
            rows_kept=n,
        ),
    )
    (root / "snapshots").mkdir(parents=True, exist_ok=True)
    folder, _ = publish(staging, manifest, root / "snapshots")
    return folder
