"""The drop keeper in-process, on a real Unix datagram socket: what it accepts, refuses and
how it bounds the drop."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from drop.keeper import Keeper, KeeperSettings
from drop.reader import read_drop
from tests.utils.drop import written


def record(request_id: str = "18c0000000a.aaaaaaaaaaaa.deadbeef", **extra) -> dict:
    body = {
        "kind": "prediction",
        "request_id": request_id,
        "index": 0,
        "time": 1.0,
        "model": "sentiment",
        "version": "3",
        "label": "fresh",
        "score": 0.9,
        "scores": {"fresh": 0.9, "rotten": 0.1},
        "latency_ms": 4.2,
        "chars": 4,
        "text_sha256": "0" * 64,
        "text": "good",
    }
    body.update(extra)
    return body


def line(body: dict) -> bytes:
    return json.dumps(body).encode() + b"\n"


@pytest.fixture
def keeper(tmp_path: Path) -> Keeper:
    return Keeper(
        KeeperSettings(
            socket=tmp_path / "drop.sock",
            root=tmp_path / "records",
            stats_file=tmp_path / "stats.json",
            allowed_uids=(os.getuid(),),
            max_bytes=4096,
        )
    )


def test_valid_records_land_in_the_models_folder_as_validated(keeper: Keeper) -> None:
    feedback = {
        "kind": "feedback",
        "request_id": "18c0000000a.aaaaaaaaaaaa.deadbeef",
        "time": 2.0,
        "model": "sentiment",
        "label": "rotten",
    }
    assert keeper.accept(line(record()) + line(feedback), os.getuid()) == 2
    keeper.close()
    rows = written(keeper)
    assert [r["kind"] for r in rows] == ["prediction", "feedback"]
    assert rows[1]["note"] is None and rows[1]["index"] == 0  # canonical: every field
    files = list((keeper.settings.root / "sentiment").glob("*.jsonl"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o640


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


def test_a_full_drop_refuses_and_counts_instead_of_filling_the_disk(keeper: Keeper) -> None:
    landed = sum(keeper.accept(line(record()), os.getuid()) for _ in range(20))
    assert 0 < landed < 20
    assert keeper.counts.dropped_full == 20 - landed
    total = sum(p.stat().st_size for p in keeper.settings.root.rglob("*.jsonl"))
    assert total <= keeper.settings.max_bytes


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
