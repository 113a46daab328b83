"""The monitor report from a real drop folder (as the keeper writes it) and a real snapshot."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bulkhead.monitoring import report as report_module
from bulkhead.monitoring.report import build_report, prometheus_text, write_report
from drop.reader import join_feedback, read_drop


def _prediction(
    rid: str, index: int, t: float, text: str, label: str, score: float, unknown: int = 0
) -> dict:
    return {
        "kind": "prediction",
        "request_id": rid,
        "index": index,
        "time": t,
        "model": "sentiment",
        "version": "2",
        "label": label,
        "score": score,
        "scores": {label: score},
        "latency_ms": 3.0,
        "chars": len(text),
        "text_sha256": "0" * 64,
        "tokens": 12,
        "unknown_tokens": unknown,
        "text": text,
    }


def _feedback(rid: str, index: int, t: float, label: str) -> dict:
    return {
        "kind": "feedback",
        "request_id": rid,
        "index": index,
        "time": t,
        "model": "sentiment",
        "label": label,
        "note": None,
    }


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(1)
    folder = tmp_path / "snapshot"
    for split in ("train", "validation", "test"):
        (folder / split).mkdir(parents=True)
        rows = [
            ("a good film " * rng.randint(1, 5), "fresh" if i % 2 else "rotten") for i in range(400)
        ]
        table = pa.table({"text": [r[0] for r in rows], "label": [r[1] for r in rows]})
        pq.write_table(table, folder / split / "part-0.parquet")
    return folder


def _drop(tmp_path: Path, rows: list[dict]) -> Path:
    root = tmp_path / "records"
    (root / "sentiment").mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    # The last line is being written: read up to the last complete line only.
    (root / "sentiment" / "a.jsonl").write_text(text + '{"kind": "predic')
    return root


def test_in_domain_traffic_is_stable_and_shifted_traffic_drifts(tmp_path, snapshot) -> None:
    rng = random.Random(3)
    rows = []
    for i in range(400):  # before the window: reviews like the snapshot's, confident answers
        text = "a good film " * rng.randint(1, 5)
        rows.append(
            _prediction(f"before-{i:04d}", 0, 100.0 + i, text, "fresh" if i % 2 else "rotten", 0.95)
        )
    for i in range(400):  # the window: long texts of another domain, unsure, one-sided answers
        text = "the committee adjourned the session on fiscal policy " * 6
        unknown = 3 if i % 2 else 0  # half the texts in a script the tokenizer cannot spell
        rows.append(_prediction(f"window-{i:04d}", 0, 1000.0 + i, text, "fresh", 0.55, unknown))
    for i in range(0, 100):
        rows.append(_feedback(f"window-{i:04d}", 0, 2000.0 + i, "rotten" if i < 80 else "fresh"))
    rows.append(_feedback("nobody-logged-this", 0, 2000.0, "fresh"))
    root = _drop(tmp_path, rows)

    report = build_report(root, "sentiment", snapshot, since=1000.0)
    verdicts = {s.name.split(" (")[0]: s.verdict for s in report.statistics}
    assert verdicts == {
        "predicted label mix": "drift",
        "text length, characters": "drift",
        "confidence": "drift",
        "unknown-token rate": "drift",
    }
    assert report.predictions == 400 and report.verdict == "drift"
    (accuracy,) = report.accuracy
    assert (accuracy.version, accuracy.labelled, accuracy.correct) == ("2", 100, 20)
    assert report.unmatched_feedback == 1

    calm = build_report(root, "sentiment", snapshot, since=None)
    assert calm.predictions == 800

    written = write_report(report, tmp_path / "report")
    assert [p.name for p in written] == ["report.json", "drift.prom", "drift.png"]
    assert written[2].stat().st_size > 10_000
    prom = prometheus_text(report)
    assert 'bulkhead_drift_detected{model="sentiment",feature="label_mix"} 1' in prom
    assert 'bulkhead_live_accuracy{model="sentiment",version="2"} 0.2' in prom
    assert 'bulkhead_drift_detected{model="sentiment",feature="unknown_tokens"} 1' in prom


def test_records_logged_before_token_counts_give_no_unknown_token_verdict(tmp_path) -> None:
    """Records of replicas older than the token counts (no `tokens`) are left out."""
    rows = [_prediction(f"r-{i}", 0, 100.0 + i, "a film", "fresh", 0.9) for i in range(100)]
    for row in rows:
        del row["tokens"], row["unknown_tokens"]
    report = build_report(_drop(tmp_path, rows), "sentiment", None, since=150.0)
    unknown = next(s for s in report.statistics if s.name.startswith("unknown-token rate"))
    assert unknown.verdict == "insufficient data" and unknown.current_n == 0


def test_in_domain_traffic_gives_no_drift(tmp_path, snapshot) -> None:
    rng = random.Random(5)
    rows = [
        _prediction(
            f"req-{i:04d}",
            0,
            100.0 + i,
            "a good film " * rng.randint(1, 5),
            "fresh" if rng.random() < 0.5 else "rotten",
            0.9 + rng.random() * 0.09,
        )
        for i in range(800)
    ]
    report = build_report(_drop(tmp_path, rows), "sentiment", snapshot, since=500.0)
    assert {s.verdict for s in report.statistics} == {"stable"}, report.statistics


def test_conflicting_and_hash_only_feedback_is_left_out(tmp_path) -> None:
    rows = [
        _prediction("req-0001", 0, 1.0, "kept", "fresh", 0.9),
        _prediction("req-0002", 0, 1.0, "conflict", "fresh", 0.9),
        {**_prediction("req-0003", 0, 1.0, "hashed", "fresh", 0.9), "text": None},
        _feedback("req-0001", 0, 2.0, "rotten"),
        _feedback("req-0002", 0, 2.0, "rotten"),
        _feedback("req-0002", 0, 3.0, "fresh"),
        _feedback("req-0003", 0, 2.0, "rotten"),
    ]
    joined = join_feedback(read_drop(_drop(tmp_path, rows), "sentiment"))
    assert [(r.request_id, r.text, r.label) for r in joined.rows] == [
        ("req-0001", "kept", "rotten")
    ]
    assert (joined.conflicting, joined.without_text, joined.unmatched) == (1, 1, 0)


def test_the_confidence_reference_is_the_latest_records_before_the_window(
    tmp_path, monkeypatch
) -> None:
    """Each replica writes its own file and the reader goes file by file, so the drop is not
    in time order: the reference must be the newest records before the window, whichever
    file they are in (it was the last ones of the file that sorts last)."""
    monkeypatch.setattr(report_module, "REFERENCE_RECORDS", 100)
    recent = [
        _prediction(f"recent-{i:04d}", 0, 500.0 + i, "a film", "fresh", 0.95) for i in range(100)
    ]
    old = [_prediction(f"old-{i:04d}", 0, 100.0 + i, "a film", "fresh", 0.55) for i in range(100)]
    window = [
        _prediction(f"now-{i:04d}", 0, 1000.0 + i, "a film", "fresh", 0.95) for i in range(100)
    ]
    root = tmp_path / "records"
    (root / "sentiment").mkdir(parents=True)
    for name, rows in (("a.jsonl", recent + window), ("b.jsonl", old)):
        (root / "sentiment" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))

    report = build_report(root, "sentiment", None, since=1000.0)
    confidence = next(s for s in report.statistics if s.name.startswith("confidence"))
    assert (report.predictions, confidence.reference_n) == (100, 100)
    assert confidence.reference["mean"] == 0.95
    assert confidence.verdict == "stable"
