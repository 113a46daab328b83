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

from contracts.drop import (
    DROP_RECORD,
    FEEDBACK_FILE_PREFIX,
    DropFile,
    FeedbackRecord,
    PredictionRecord,
)


@dataclass
class DropContents:
    predictions: list[PredictionRecord] = field(default_factory=list)
    feedback: list[FeedbackRecord] = field(default_factory=list)
    files: list[DropFile] = field(default_factory=list)
    unreadable: int = 0


def model_files(root: Path, model: str) -> list[Path]:
    folder = root / model
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


CHUNK_BYTES = 1 << 20


def _lines(path: Path, files: list[DropFile], limit: int | None = None) -> Iterator[bytes]:
    """The file's complete lines, read a chunk at a time (a drop of a GiB is never in memory
    whole), up to ``limit`` bytes when given; once exhausted, the file is described in
    ``files`` (exactly the bytes used)."""
    digest, used, count, rest = hashlib.sha256(), 0, 0, b""
    with path.open("rb") as handle:
        while chunk := handle.read(
            CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit - used - len(rest))
        ):
            chunk = rest + chunk
            end = chunk.rfind(b"\n") + 1
            complete, rest = chunk[:end], chunk[end:]
            digest.update(complete)
            used += len(complete)
            for line in complete.split(b"\n"):
                if line.strip():
                    count += 1
                    yield line
            if limit is not None and used + len(rest) >= limit:
                break
    files.append(DropFile(path=str(path), lines=count, bytes=used, sha256=digest.hexdigest()))


def iter_drop(
    root: Path, model: str, contents: DropContents, since: float | None = None
) -> Iterator[PredictionRecord | FeedbackRecord]:
    """Every record of ``model`` (made at or after ``since``), one at a time; the files read
    and the unreadable lines are noted in ``contents``."""
    for path in model_files(root, model):
        for line in _lines(path, contents.files):
            try:
                record = DROP_RECORD.validate_json(line)
            except ValidationError:
                contents.unreadable += 1  # the keeper writes only valid records; count
                continue
            if since is None or record.time >= since:
                yield record


def read_drop(root: Path, model: str, since: float | None = None) -> DropContents:
    """Every record of ``model`` (made at or after ``since``, Unix time, when given), in
    memory: for the monitor's windows. Joining labels streams instead (``labelled``)."""
    contents = DropContents()
    for record in iter_drop(root, model, contents, since):
        if isinstance(record, PredictionRecord):
            contents.predictions.append(record)
        else:
            contents.feedback.append(record)
    return contents


def labelled(root: Path, model: str) -> tuple[Joined, DropContents]:
    """``join_feedback`` over the whole drop without holding it: a first pass keeps only the
    feedback (small), a second only the logged predictions it names, each file read up to
    where the first pass read it (the keeper may be appending). The contents returned hold
    those records and describe every file used."""
    first = DropContents()
    for record in iter_drop(root, model, first):
        if isinstance(record, FeedbackRecord):
            first.feedback.append(record)
    wanted = {(f.request_id, f.index) for f in first.feedback}
    second: list[DropFile] = []
    for described in first.files:
        path = Path(described.path)
        if path.name.startswith(FEEDBACK_FILE_PREFIX) or described.bytes == 0:
            continue
        for line in _lines(path, second, limit=described.bytes):
            try:
                record = DROP_RECORD.validate_json(line)
            except ValidationError:
                continue
            if isinstance(record, PredictionRecord) and (record.request_id, record.index) in wanted:
                first.predictions.append(record)
    return join_feedback(first), first


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
