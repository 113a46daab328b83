"""The drop keeper in-process, on a real Unix datagram socket: what it accepts, refuses and
how it bounds the drop."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from contracts.drop import ACK_FAILED, ACK_FULL, ACK_KEPT, ACK_REFUSED, feedback_socket_of
from drop.keeper import Keeper
from drop.reader import read_drop
from tests.utils.drop import keeper_settings, minted_id, prediction_row, written

record = prediction_row


def line(body: dict) -> bytes:
    return json.dumps(body).encode() + b"\n"


def _keeper(folder: Path, **settings: Any) -> Keeper:
    return Keeper(keeper_settings(folder, **settings))


@pytest.fixture
def keeper(tmp_path: Path) -> Keeper:
    return _keeper(tmp_path, max_bytes=4096)


def test_valid_records_land_in_the_models_folder_as_validated(keeper: Keeper) -> None:
    assert keeper.accept(line(record()), os.getuid()) == 1
    assert keeper.keep_feedback(line(_feedback(n=10)), os.getuid()) == ACK_KEPT
    keeper.close()
    rows = written(keeper)
    assert [r["kind"] for r in rows] == ["prediction", "feedback"]
    assert rows[1]["note"] is None and rows[1]["index"] == 0  # canonical: every field
    files = sorted((keeper.settings.root / "sentiment").glob("*.jsonl"))
    # Labels in files of their own: evicting samples can never take one.
    assert [f.name.startswith("feedback-") for f in files] == [False, True]
    assert all(f.stat().st_mode & 0o777 == 0o640 for f in files)


def test_texts_with_unicode_line_separators_stay_one_record(keeper: Keeper) -> None:
    """JSON Lines end at "\\n" only: a text holding U+2028, U+0085 or a form feed (the fuzzing
    suite sends them) is one record for the keeper and for the ingest zone's reader (a test
    helper that split with str.splitlines() broke on one in CI)."""
    text = "a\u2028b\x85c\x0cd\u2029e"
    assert keeper.accept(line(record(text=text, chars=len(text))), os.getuid()) == 1
    keeper.close()
    assert [r["text"] for r in written(keeper)] == [text]
    contents = read_drop(keeper.settings.root, "sentiment")
    assert [r.text for r in contents.predictions] == [text]


@pytest.mark.parametrize(
    "bad",
    [
        record(request_id="../../etc/passwd"),
        record(model="../escape"),
        record(score=7),
        record(extra_field=1),
        record(text="x" * 20_000),
        {"kind": "delete", "request_id": "18c0000000a.aaaaaaaaaaaa.deadbeef"},
    ],
    ids=["path id", "path model", "score", "unknown field", "long text", "unknown kind"],
)
def test_what_a_compromised_sender_could_try_is_refused(keeper: Keeper, bad: dict) -> None:
    assert keeper.accept(line(bad) + b"not json\n", os.getuid()) == 0
    assert keeper.counts.invalid == 2
    assert written(keeper) == []
    assert not (keeper.settings.root.parent / "escape").exists()


def test_only_the_allowed_sender_uid_is_heard(keeper: Keeper) -> None:
    assert keeper.accept(line(record()), os.getuid() + 1) == 0
    assert keeper.accept(line(record()), None) == 0
    assert keeper.counts.refused_sender == 2


@pytest.mark.parametrize(
    "request_id",
    [
        "18c0000000a.aaaaaaaaaaaa.deadbeef",  # made up
        minted_id(10, "subjectivity"),  # minted for another model
        minted_id(10, key=b"y" * 32),  # minted with another key
    ],
    ids=["made up", "other model", "other key"],
)
def test_rows_whose_id_the_serve_zone_did_not_mint_never_land(
    keeper: Keeper, request_id: str
) -> None:
    """Found by review: the keeper took any well-formed row, so anything that reached its
    socket past the feedback route's check could add labelled training rows."""
    me = os.getuid()
    assert keeper.accept(line(record(request_id=request_id)), me) == 0
    feedback = {**_feedback(n=10), "request_id": request_id}
    assert keeper.keep_feedback(line(feedback), me) == ACK_REFUSED
    assert keeper.counts.unminted == 2
    assert written(keeper) == []


def test_labels_never_come_as_unacknowledged_datagrams(keeper: Keeper) -> None:
    """202 means kept: a label that arrived as a datagram was never acknowledged to anyone."""
    assert keeper.accept(line(_feedback(n=10)), os.getuid()) == 0
    assert keeper.counts.invalid == 1 and written(keeper) == []


def test_a_keeper_without_the_request_id_key_keeps_nothing(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path, request_id_key=tmp_path / "missing")
    assert keeper.accept(line(record()), os.getuid()) == 0
    assert keeper.keep_feedback(line(_feedback(n=10)), os.getuid()) == ACK_REFUSED
    assert written(keeper) == []


def test_a_full_drop_evicts_the_oldest_samples_and_never_fills_the_disk(
    tmp_path: Path,
) -> None:
    keeper = _keeper(tmp_path, max_bytes=4096, rotate_bytes=1024)
    ids = [minted_id(n) for n in range(40)]
    landed = sum(keeper.accept(line(record(request_id=i)), os.getuid()) for i in ids)
    assert landed == 40 and keeper.counts.dropped_full == 0
    assert keeper.counts.evicted_files > 0
    total = sum(p.stat().st_size for p in keeper.settings.root.rglob("*.jsonl"))
    assert total <= keeper.settings.max_bytes
    kept = [r["request_id"] for r in written(keeper)]
    assert kept == ids[-len(kept) :]  # the newest stay, oldest first out


def _feedback(model: str = "sentiment", n: int = 0) -> dict:
    return {
        "kind": "feedback",
        "request_id": minted_id(n, model),
        "time": 2.0,
        "model": model,
        "label": "rotten",
    }


def test_labels_are_never_evicted_for_samples_and_each_model_has_its_own_share(
    tmp_path: Path,
) -> None:
    keeper = _keeper(
        tmp_path,
        max_bytes=64 * 1024,
        model_max_bytes=4096,
        feedback_max_bytes=2048,
        rotate_bytes=1024,
    )
    me = os.getuid()
    assert keeper.keep_feedback(line(_feedback()), me) == ACK_KEPT
    keeper.accept(line(record(model="quiet")), me)
    for n in range(200):  # one model floods samples far past its share
        keeper.accept(line(record(request_id=minted_id(n))), me)
    rows = written(keeper)
    assert [r["kind"] for r in rows if r["model"] == "sentiment"].count("feedback") == 1
    assert [r["model"] for r in rows].count("quiet") == 1  # another model's samples stay
    flooded = sum(p.stat().st_size for p in (keeper.settings.root / "sentiment").glob("2*"))
    assert flooded <= 4096
    # The feedback share used up: refused with a word the client turns into 503, not lost.
    answers = [keeper.keep_feedback(line(_feedback(n=n)), me) for n in range(1, 40)]
    assert ACK_FULL in answers and set(answers) <= {ACK_KEPT, ACK_FULL}
    assert keeper.counts.feedback_refused_full == answers.count(ACK_FULL)
    kept = [r for r in written(keeper) if r["kind"] == "feedback"]
    assert len(kept) == 1 + answers.count(ACK_KEPT)  # every acknowledged one is on disk


def test_feedback_is_acknowledged_over_its_socket_only_once_written(keeper: Keeper) -> None:
    listener = keeper.bind_feedback()
    listener.settimeout(2)
    try:
        for message, expected in (
            (line(_feedback()), ACK_KEPT),
            (line(record()), ACK_REFUSED),  # a sample is not feedback
            (b"not json", ACK_REFUSED),
        ):
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as client:
                client.settimeout(2)
                client.connect(feedback_socket_of(str(keeper.settings.socket)))
                client.send(message)
                keeper.answer_feedback(listener)
                assert client.recv(64) == expected
    finally:
        listener.close()
    assert [r["kind"] for r in written(keeper)] == ["feedback"]


def test_a_write_error_is_answered_and_the_keeper_lives_on(keeper: Keeper, monkeypatch) -> None:
    """Found by review: the keeper died on any OSError (disk full) and nothing restarted it."""
    import errno

    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    assert keeper.keep_feedback(line(_feedback()), os.getuid()) == ACK_FAILED
    assert keeper.accept(line(record()), os.getuid()) == 0
    assert keeper.counts.write_errors == 2
    monkeypatch.setattr(os, "write", real_write)
    assert keeper.keep_feedback(line(_feedback()), os.getuid()) == ACK_KEPT


def test_a_stopping_keeper_drains_its_socket_first(keeper: Keeper) -> None:
    """Found by review: every `down` lost what the keeper's socket still held."""
    sock, listener = keeper.bind(), keeper.bind_feedback()
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.connect(str(keeper.settings.socket))
    for n in range(5):
        sender.send(line(record(request_id=minted_id(n))))
    sender.close()
    keeper.run(sock, listener, stop=[True])  # told to stop before it read anything
    sock.close()
    listener.close()
    assert len(written(keeper)) == 5


def test_the_socket_carries_the_senders_uid_from_the_kernel(keeper: Keeper) -> None:
    sock = keeper.bind()
    try:
        assert keeper.settings.socket.stat().st_mode & 0o777 == 0o622
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.connect(str(keeper.settings.socket))
        sender.send(line(record()))
        sender.send(b"x" * 70_000)  # over the datagram limit: refused whole
        sock.settimeout(2)
        keeper.receive(sock)
        keeper.receive(sock)
        sender.close()
    finally:
        sock.close()
    assert keeper.counts.records == 1 and keeper.counts.truncated == 1
    keeper.write_stats()
    assert json.loads(keeper.settings.stats_file.read_text())["records"] == 1


def test_a_short_write_is_finished_or_cut_back_never_acknowledged_half(
    keeper: Keeper, monkeypatch
) -> None:
    real_write = os.write
    calls = {"n": 0}

    def short_then_full(fd: int, data) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:10]))  # part of it, no error
        raise OSError(28, "No space left on device")

    assert keeper.keep_feedback(line(_feedback()), os.getuid()) == ACK_KEPT  # whole
    monkeypatch.setattr(os, "write", short_then_full)
    assert keeper.keep_feedback(line(_feedback(n=1)), os.getuid()) == ACK_FAILED
    monkeypatch.setattr(os, "write", real_write)
    assert keeper.keep_feedback(line(_feedback(n=2)), os.getuid()) == ACK_KEPT
    rows = written(keeper)  # every line whole: the cut-off part was taken back
    assert [r["request_id"][:11] for r in rows] == ["18c00000000", "18c00000002"]
