"""A real drop keeper on a real socket in a temporary folder, for tests that must not start
the platform: what the replicas send is received, validated and written as in production."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contracts.request_ids import RequestIds
from drop.keeper import Keeper, KeeperSettings

# The serve zone's request-id key in tests: replicas built with RequestIds(TEST_REQUEST_ID_KEY)
# issue ids a test keeper (``keeper_settings``) accepts.
TEST_REQUEST_ID_KEY = b"z" * 32


def minted_id(n: int = 0, model: str = "sentiment", key: bytes = TEST_REQUEST_ID_KEY) -> str:
    """A request id as the serve zone issues it for ``model`` (the n-th, reproducibly)."""
    stem = f"18c{n:08x}.aaaaaaaaaaaa"
    return f"{stem}.{RequestIds(key)._mac(stem, model)}"


def prediction_row(request_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A payload sample as a replica sends it, its id minted for its model."""
    body: dict[str, Any] = {
        "kind": "prediction",
        "request_id": request_id or minted_id(10, extra.get("model", "sentiment")),
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


def write_request_id_key(path: Path, key: bytes = TEST_REQUEST_ID_KEY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key)
    return path


def keeper_settings(folder: Path, **settings: Any) -> KeeperSettings:
    """A keeper in ``folder`` that hears this process and knows the test request-id key."""
    defaults: dict[str, Any] = {
        "socket": folder / "drop.sock",
        "root": folder / "records",
        "stats_file": folder / "stats.json",
        "allowed_uids": (os.getuid(),),
        "request_id_key": write_request_id_key(folder / "request-id-key"),
    }
    return KeeperSettings(**{**defaults, **settings})


@contextmanager
def running_keeper(folder: Path, **settings: Any) -> Iterator[tuple[Keeper, socket.socket]]:
    """The keeper's datagram socket for the test to drain, and its acknowledged feedback
    socket answered by a thread (a replica waits for that answer)."""
    keeper = Keeper(keeper_settings(folder, **settings))
    sock = keeper.bind()
    sock.settimeout(0.2)
    listener = keeper.bind_feedback()
    listener.settimeout(0.1)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                keeper.answer_feedback(listener)
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield keeper, sock
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
        listener.close()


def drain(keeper: Keeper, sock: socket.socket) -> None:
    """Receive every datagram waiting on the socket."""
    while True:
        try:
            keeper.receive(sock)
        except TimeoutError:
            return


def written(keeper: Keeper) -> list[dict[str, Any]]:
    """Every record the keeper wrote, in file order (its open files closed first)."""
    keeper.close()
    return [
        json.loads(line)
        for path in sorted(keeper.settings.root.rglob("*.jsonl"))
        for line in path.read_text().split("\n")
        if line.strip()
    ]


def records_of(root: Path, request_id: str) -> list[dict[str, Any]]:
    """Every record of one request in a drop's records folder (a platform's, read as root)."""
    rows = []
    for path in sorted(root.rglob("*.jsonl")):
        # JSON Lines end at "\n" only: str.splitlines() would also split inside a text that
        # holds U+2028, U+0085 and kin (the fuzzing suite sends such texts).
        for line in path.read_text().split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["request_id"] == request_id:
                rows.append(row)
    return rows


def wait_for_records(root: Path, request_id: str, count: int) -> list[dict[str, Any]]:
    """The request's records once ``count`` have landed (the replicas flush every 0.5 s)."""
    deadline = time.monotonic() + 30
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = records_of(root, request_id)
        if len(rows) >= count:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"{len(rows)} of {count} records of {request_id} reached the drop")
