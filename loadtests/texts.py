"""Request texts for load generation: real reviews from a snapshot's test split.

One repeated string would hit the same token lengths and caches every time; the test split
has the length mix users send.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from contracts import env

TEXTS_ENV = env.LOADTEST_TEXTS
DEFAULT_SNAPSHOTS = Path(".bulkhead/data/snapshots")


def latest_snapshot(snapshots: Path = DEFAULT_SNAPSHOTS) -> Path | None:
    found = [p for p in snapshots.glob("*/manifest.json")]
    return max(found, key=lambda p: p.stat().st_mtime).parent if found else None


def texts_from_snapshot(snapshot: Path, split: str = "test", limit: int = 2000) -> list[str]:
    import pyarrow.parquet as pq

    table = pq.read_table(snapshot / split, columns=["text"])
    texts = [t for t in table.column("text").to_pylist() if t]
    if not texts:
        raise ValueError(f"{snapshot / split} holds no texts")
    return texts[:limit]


def write_texts(texts: list[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(t) + "\n" for t in texts))
    return path


def read_texts(path: Path) -> list[str]:
    texts = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not texts or not all(isinstance(t, str) and t for t in texts):
        raise ValueError(f"{path} must hold one non-empty JSON string per line")
    return texts


def load_texts() -> list[str]:
    """Texts named by ``BULKHEAD_LOADTEST_TEXTS``, else the local platform's latest snapshot."""
    named = os.environ.get(TEXTS_ENV)
    if named:
        return read_texts(Path(named))
    snapshot = latest_snapshot()
    if snapshot is None:
        raise RuntimeError(
            f"no request texts: set {TEXTS_ENV} to a JSON-lines file of strings, or run "
            "`bulkhead ingest` so that .bulkhead/data/snapshots/ holds a test split"
        )
    return texts_from_snapshot(snapshot)
