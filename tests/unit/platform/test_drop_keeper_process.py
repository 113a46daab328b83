"""The drop keeper as `up` starts it (a real process on real sockets, no Ray): killed, it is
back within seconds; stopped, it keeps what its socket still held."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import psutil

from bulkhead.platform import drop_keeper, handover
from bulkhead.platform.identity import Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ProcessRecord, stop_session
from bulkhead.platform.service import Context
from bulkhead.platform.state import DROP_KEEPER, PlatformState
from bulkhead.platform.status import DropStatus
from bulkhead.platform.status_report import drop_status
from contracts.drop import ACK_KEPT, feedback_socket_of
from tests.utils.drop import minted_id, prediction_row, write_request_id_key


def _feedback(n: int) -> bytes:
    body = {
        "kind": "feedback",
        "request_id": minted_id(n),
        "time": 2.0,
        "model": "sentiment",
        "label": "rotten",
    }
    return json.dumps(body).encode() + b"\n"


def _sample(n: int) -> bytes:
    return json.dumps(prediction_row(minted_id(n))).encode() + b"\n"


def _drop_status(paths: StatePaths, record: ProcessRecord) -> DropStatus | None:
    """What `status` reports of the keeper (it reads only the state and the paths)."""
    state = PlatformState()
    state.processes[DROP_KEEPER] = record
    return drop_status(cast(Context, SimpleNamespace(paths=paths, state=state)))


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
    write_request_id_key(paths.drop_request_id_key)
    record = drop_keeper.start(paths, None)
    try:
        assert _until(lambda: _keep(paths, 0) == ACK_KEPT)
        first = _keeper_process(record.pid)
        assert _until(lambda: _drop_status(paths, record).state == "running")
        # Found by review: status looked only at the restart loop, so a keeper stopped dead
        # (here frozen: no restart can hide it) still read "running".
        first.suspend()
        try:
            assert _until(lambda: _drop_status(paths, record).state == "restarting")
        finally:
            first.resume()
        os.kill(first.pid, signal.SIGKILL)  # found by review: nothing restarted a dead keeper
        first.wait(5)
        assert _until(lambda: _keep(paths, 1) == ACK_KEPT), "the keeper did not come back"
        assert _keeper_process(record.pid).pid != first.pid
        assert _until(lambda: _drop_status(paths, record).state == "running")
        shown = _drop_status(paths, record)
        assert shown.restarts == 1 and shown.keeper_pid == _keeper_process(record.pid).pid
        # Samples still queued on the socket when `down` stops the keeper are kept.
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.connect(str(paths.drop_socket))
        for n in range(50):
            sender.send(_sample(100 + n))
        sender.close()
    finally:
        stop_session(record)
    assert _drop_status(paths, record).state == "stopped"
    lines = [
        line
        for path in (paths.drop_records / "sentiment").glob("*.jsonl")
        for line in path.read_text().split("\n")
        if line.strip()
    ]
    assert len(lines) == 52
