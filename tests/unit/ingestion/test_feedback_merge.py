"""`ingest --from-feedback` before Ray: the drop's labelled texts merged with a real snapshot,
and the lineage the new snapshot will carry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from ingestion.feedback import merge_feedback
from ingestion.schema import FeedbackInput, IngestError
from tests.utils.snapshots import make_snapshot


def _prediction(rid: str, index: int, text: str | None) -> dict:
    return {
        "kind": "prediction",
        "request_id": rid,
        "index": index,
        "time": 1.0,
        "model": "sentiment",
        "version": "2",
        "label": "fresh",
        "score": 0.6,
        "scores": {"fresh": 0.6, "rotten": 0.4},
        "latency_ms": 3.0,
        "chars": len(text or "x"),
        "text_sha256": "0" * 64,
        "text": text,
    }


def _feedback(rid: str, index: int, label: str) -> dict:
    return {
        "kind": "feedback",
        "request_id": rid,
        "index": index,
        "time": 2.0,
        "model": "sentiment",
        "label": label,
    }


def _drop(root: Path, rows: list[dict]) -> Path:
    folder = root / "records" / "sentiment"
    folder.mkdir(parents=True)
    (folder / "one.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "records"


def test_labelled_texts_join_the_snapshot_with_their_lineage(tmp_path: Path) -> None:
    base = make_snapshot(tmp_path / "base")
    drop = _drop(
        tmp_path,
        [
            _prediction("request-01", 0, "the committee met on tuesday"),
            _prediction("request-01", 1, "markets fell sharply"),
            _prediction("request-02", 0, None),  # logged as a hash only
            _feedback("request-01", 0, "fresh"),
            _feedback("request-01", 1, "rotten"),
            _feedback("request-02", 0, "rotten"),
            _feedback("request-09", 0, "rotten"),  # never logged
        ],
    )
    spec = FeedbackInput(drop_dir=drop, model="sentiment", base_snapshot=base)
    lines: list[str] = []
    config, lineage, staged = merge_feedback(spec, tmp_path / "snapshots", lines.append)
    merged = pd.read_parquet(config.source)
    assert len(merged) == lineage.base_rows + 2
    assert merged.tail(2).values.tolist() == [
        ["the committee met on tuesday", "fresh"],
        ["markets fell sharply", "rotten"],
    ]
    assert config.labels == ["fresh", "rotten"] and config.source.parent == staged
    assert (lineage.feedback_rows, lineage.request_ids) == (2, 1)
    assert (lineage.unmatched, lineage.without_text, lineage.conflicting) == (1, 1, 0)
    expected = hashlib.sha256(b"request-01:0\nrequest-01:1").hexdigest()
    assert lineage.request_ids_sha256 == expected
    (file,) = lineage.drop_files
    assert (
        file.lines == 7
        and file.sha256
        == hashlib.sha256((drop / "sentiment" / "one.jsonl").read_bytes()).hexdigest()
    )
    assert "2 usable labelled texts" in lines[0]


def test_a_feedback_snapshot_built_on_one_keeps_one_suffix(tmp_path: Path) -> None:
    """Seen on the second round of `make loop`: subjectivity-feedback-feedback-..."""
    base = make_snapshot(tmp_path / "base", source_name="subjectivity-feedback.parquet")
    drop = _drop(
        tmp_path,
        [_prediction("request-01", 0, "markets fell"), _feedback("request-01", 0, "rotten")],
    )
    spec = FeedbackInput(drop_dir=drop, model="sentiment", base_snapshot=base, min_feedback_rows=1)
    config, _, _ = merge_feedback(spec, tmp_path / "snapshots", lambda line: None)
    assert config.source.name == "subjectivity-feedback.parquet"


def test_no_usable_feedback_is_a_clear_error(tmp_path: Path) -> None:
    base = make_snapshot(tmp_path / "base")
    drop = _drop(
        tmp_path, [_prediction("request-01", 0, None), _feedback("request-01", 0, "fresh")]
    )
    spec = FeedbackInput(drop_dir=drop, model="sentiment", base_snapshot=base)
    with pytest.raises(IngestError, match="0 usable labelled texts"):
        merge_feedback(spec, tmp_path / "snapshots", lambda _: None)


def test_a_tampered_base_snapshot_is_refused(tmp_path: Path) -> None:
    base = make_snapshot(tmp_path / "base")
    next((base / "train").glob("*.parquet")).write_bytes(b"changed")
    spec = FeedbackInput(drop_dir=tmp_path, model="sentiment", base_snapshot=base)
    with pytest.raises(IngestError, match="base snapshot"):
        merge_feedback(spec, tmp_path / "snapshots", lambda _: None)
