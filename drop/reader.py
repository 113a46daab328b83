"""Reading the drop: what the ingest zone (and the operator's `monitor`) take out of it.

Files are read up to their last complete line only (the keeper may be appending), and every
file read is described (path, lines, SHA-256 of exactly the bytes used), so a snapshot built
from the drop can say which records it used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from contracts.drop import DROP_RECORD, DropFile, FeedbackRecord, PredictionRecord


@dataclass
class DropContents:
    predictions: list[PredictionRecord] = field(default_factory=list)
    feedback: list[FeedbackRecord] = field(default_factory=list)
    files: list[DropFile] = field(default_factory=list)
    unreadable: int = 0


def model_files(root: Path, model: str) -> list[Path]:
    folder = root / model
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def _complete_lines(path: Path) -> tuple[bytes, list[bytes]]:
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    used = data[:end]
    return used, [line for line in used.split(b"\n") if line.strip()]


def read_drop(root: Path, model: str, since: float | None = None) -> DropContents:
    """Every record of ``model`` (made at or after ``since``, Unix time, when given)."""
    contents = DropContents()
    for path in model_files(root, model):
        used, lines = _complete_lines(path)
        contents.files.append(
            DropFile(
                path=str(path),
                lines=len(lines),
                bytes=len(used),
                sha256=hashlib.sha256(used).hexdigest(),
            )
        )
        for record in _parse(lines, contents):
            if since is not None and record.time < since:
                continue
            if isinstance(record, PredictionRecord):
                contents.predictions.append(record)
            else:
                contents.feedback.append(record)
    return contents


def _parse(
    lines: list[bytes], contents: DropContents
) -> Iterator[PredictionRecord | FeedbackRecord]:
    for line in lines:
        try:
            yield DROP_RECORD.validate_json(line)
        except ValidationError:
            contents.unreadable += 1  # the keeper writes only valid records; count, never fail


@dataclass(frozen=True)
class LabelledText:
    """A logged text with the label a client reported for it."""

    request_id: str
    index: int
    text: str
    label: str
    predicted: str
    version: str


@dataclass
class Joined:
    rows: list[LabelledText] = field(default_factory=list)
    without_text: int = 0  # the prediction was logged as a hash only
    unmatched: int = 0  # feedback whose prediction was not logged (sampled out, too old)
    conflicting: int = 0  # one text of one request given two different labels


def join_feedback(contents: DropContents) -> Joined:
    """Each feedback with the logged prediction it names: the newest label per (request,
    text) wins unless two reports disagree, which drops both (as ingest drops conflicts)."""
    logged = {(p.request_id, p.index): p for p in contents.predictions}
    labels: dict[tuple[str, int], set[str]] = {}
    for feedback in contents.feedback:
        labels.setdefault((feedback.request_id, feedback.index), set()).add(feedback.label)
    joined = Joined()
    for key, given in sorted(labels.items()):
        prediction = logged.get(key)
        if prediction is None:
            joined.unmatched += 1
        elif len(given) > 1:
            joined.conflicting += 1
        elif prediction.text is None:
            joined.without_text += 1
        else:
            joined.rows.append(
                LabelledText(
                    request_id=key[0],
                    index=key[1],
                    text=prediction.text,
                    label=next(iter(given)),
                    predicted=prediction.label,
                    version=prediction.version,
                )
            )
    return joined
