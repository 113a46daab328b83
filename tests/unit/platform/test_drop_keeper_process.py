"""The drop keeper as `up` starts it (a real process on real sockets, no Ray): killed, it is
back within seconds; stopped, it keeps what its socket still held."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import psutil

from bulkhead.platform import drop_keeper, handover
from bulkhead.platform.identity import Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import stop_session
from contracts.drop import ACK_KEPT, feedback_socket_of


def _feedback(n: int) -> bytes:
    body = {
        "kind": "feedback",
        "request_id": f"18c{n:08x}.aaaaaaaaaaaa.deadbeef",
        "time": 2.0,
        "model": "sentiment",
        "label": "rotten",
    }
    return json.dumps(body).encode() + b"\n"


def _keep(paths: StatePaths, n: int) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as client:
        client.settimeout(2)
        client.connect(feedback_socket_of(str(paths.drop_socket)))
        client.send(_feedback(n))
        return client.recv(64)


def _keeper_process(leader: int) -> psutil.Process:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = [
            p for p in psutil.Process(leader).children() if "drop.keeper" in " ".join(p.cmdline())
        ]
        if children:
            return children[0]
        time.sleep(0.1)
    raise AssertionError("no keeper process under its loop")


def _until(check, limit_s: float = 20.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def test_a_killed_keeper_is_back_and_a_stopped_one_drains_first(tmp_path: Path) -> None:
    paths = StatePaths.at(tmp_path / ".bulkhead")
    paths.home.mkdir(parents=True)
    paths.logs.mkdir()
    paths.service_home(Role.DROP).mkdir(parents=True)
    handover.prepare_drop(paths, None)
    record = drop_keeper.start(paths, None)
    try:
        assert _until(lambda: _keep(paths, 0) == ACK_KEPT)
        first = _keeper_process(record.pid)
        os.kill(first.pid, signal.SIGKILL)  # found by review: nothing restarted a dead keeper
        first.wait(5)
        assert _until(lambda: _keep(paths, 1) == ACK_KEPT), "the keeper did not come back"
        assert _keeper_process(record.pid).pid != first.pid
        # Samples still queued on the socket when `down` stops the keeper are kept.
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.connect(str(paths.drop_socket))
        for n in range(50):
            sample = json.loads(_feedback(100 + n))
            sender.send(json.dumps(sample).encode() + b"\n")
        sender.close()
    finally:
        stop_session(record)
    lines = [
        line
        for path in (paths.drop_records / "sentiment").glob("*.jsonl")
        for line in path.read_text().split("\n")
        if line.strip()
    ]
    assert len(lines) == 52
