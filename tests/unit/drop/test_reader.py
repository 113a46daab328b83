"""Reading the drop a chunk at a time: the same records, lines and digests as reading each
file whole, and labels joined without holding every logged text."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from drop import reader
from drop.reader import join_feedback, labelled, read_drop


def _prediction(n: int) -> dict:
    return {
        "kind": "prediction",
        "request_id": f"18c{n:08x}.aaaaaaaaaaaa.deadbeef",
        "index": 0,
        "time": float(n),
        "model": "m",
        "version": "3",
        "label": "fresh",
        "score": 0.9,
        "scores": {"fresh": 0.9, "rotten": 0.1},
        "latency_ms": 4.2,
        "chars": 10,
        "text_sha256": "0" * 64,
        "text": f"text number {n} \u2028 with a separator",
    }


def _feedback(n: int, label: str = "rotten") -> dict:
    return {
        "kind": "feedback",
        "request_id": f"18c{n:08x}.aaaaaaaaaaaa.deadbeef",
        "index": 0,
        "time": float(n) + 0.5,
        "model": "m",
        "label": label,
    }


@pytest.fixture
def drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(reader, "CHUNK_BYTES", 97)  # lines cross chunk edges everywhere
    folder = tmp_path / "m"
    folder.mkdir()
    samples = "".join(json.dumps(_prediction(n)) + "\n" for n in range(300))
    (folder / "20261207T000000Z-1-1.jsonl").write_text(samples + '{"half a line')
    labels = [_feedback(n) for n in range(0, 300, 7)] + [_feedback(3), _feedback(3, "fresh")]
    (folder / "feedback-20261207T000000Z-1-2.jsonl").write_text(
        "".join(json.dumps(f) + "\n" for f in labels)
    )
    return tmp_path


def test_chunked_reading_gives_every_complete_line_and_its_exact_digest(drop: Path) -> None:
    contents = read_drop(drop, "m")
    assert len(contents.predictions) == 300 and len(contents.feedback) == 45
    samples = (drop / "m" / "20261207T000000Z-1-1.jsonl").read_bytes()
    used = samples[: samples.rfind(b"\n") + 1]  # the half line the keeper is writing: not yet
    described = {Path(f.path).name: f for f in contents.files}["20261207T000000Z-1-1.jsonl"]
    assert described.bytes == len(used) and described.lines == 300
    assert described.sha256 == hashlib.sha256(used).hexdigest()


def test_labels_are_joined_streaming_as_they_are_in_memory(drop: Path) -> None:
    joined, contents = labelled(drop, "m")
    whole = join_feedback(read_drop(drop, "m"))
    assert joined == whole and len(joined.rows) == 43 and joined.conflicting == 1
    assert len(contents.predictions) == 44  # only the logged texts feedback names
    assert contents.files == read_drop(drop, "m").files  # lineage: every file, as used
