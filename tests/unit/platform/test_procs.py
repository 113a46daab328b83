import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from bulkhead.platform import procs

# A leader that starts two grandchildren, like `ray start --block` starting gcs and raylet.
TREE = (
    "import subprocess, sys, time\n"
    "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])"
    " for _ in range(2)]\n"
    "print('ready', flush=True)\n"
    "time.sleep(300)\n"
)


def _wait_for(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_stop_session_stops_the_whole_tree_and_nothing_else(tmp_path: Path) -> None:
    bystander = psutil.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    record = procs.spawn([sys.executable, "-c", TREE], {}, tmp_path / "tree.log", cwd=tmp_path)
    try:
        _wait_for(lambda: len(procs.session_members(record.pid)) == 3)
        assert procs.is_alive(record)
        stopped = procs.stop_session(record, grace_s=2)
        assert stopped == 3
        assert procs.session_members(record.pid) == []
        assert not procs.is_alive(record)
        assert bystander.is_running()
    finally:
        bystander.kill()
        bystander.wait()


# Like a Ray node: a leader and children that outlive SIGTERM.
STUBBORN_TREE = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "code = 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'\n"
    "kids = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(2)]\n"
    "time.sleep(300)\n"
)


def test_a_ray_node_is_stopped_at_once_not_leader_first(tmp_path: Path) -> None:
    """Leader first waits out the leader's grace, then the children's: ~17 s per Ray node
    measured. At once, every process gets SIGTERM together and SIGKILL after one grace."""
    record = procs.spawn(
        [sys.executable, "-c", STUBBORN_TREE], {}, tmp_path / "tree.log", cwd=tmp_path
    )
    _wait_for(lambda: len(procs.session_members(record.pid)) == 3)
    started = time.monotonic()
    assert procs.stop_session(record, grace_s=1, at_once=True) == 3
    took = time.monotonic() - started
    assert procs.session_members(record.pid) == []
    assert took < 4.5, f"{took:.1f} s: the grace was waited more than once"


def test_down_never_signals_a_session_it_cannot_prove_it_started(tmp_path: Path) -> None:
    """Same session id, same start time, but not our marker (a reused PID, a forged
    state file): nothing is signalled."""
    record = procs.spawn([sys.executable, "-c", TREE], {}, tmp_path / "tree.log", cwd=tmp_path)
    try:
        _wait_for(lambda: len(procs.session_members(record.pid)) == 3)
        impostor = record.model_copy(update={"marker": "not-the-marker-we-started-it-with"})
        assert procs.stop_session(impostor, grace_s=1) == 0
        assert len(procs.session_members(record.pid)) == 3
        assert len(procs.proven_members(record)) == 3
    finally:
        assert procs.stop_session(record, grace_s=2) == 3


def test_a_reused_pid_is_not_mistaken_for_our_process(tmp_path: Path) -> None:
    record = procs.ProcessRecord(pid=1, create_time=0.0, log=tmp_path / "x.log")
    assert not procs.is_alive(record)


def test_a_start_time_read_a_second_off_is_still_our_process(tmp_path: Path) -> None:
    """/proc/stat's boot time moves by a whole second between reads, so the same process's
    start time does too: that must not make a running service look stopped (it made
    `status` exit 3 in CI). A clock step of minutes is told apart by the marker."""
    record = procs.spawn([sys.executable, "-c", TREE], {}, tmp_path / "tree.log", cwd=tmp_path)
    try:
        for off_by in (-1.2, 1.2, 2.0):
            shifted = record.model_copy(update={"create_time": record.create_time + off_by})
            assert procs.is_alive(shifted), off_by
        stepped = record.model_copy(update={"create_time": record.create_time - 600})
        assert procs.is_alive(stepped)
        unmarked = stepped.model_copy(update={"marker": "not-the-marker-we-started-it-with"})
        assert not procs.is_alive(unmarked)
    finally:
        procs.stop_session(record, grace_s=2)


def test_port_owner_and_ensure_ports_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        owner = procs.port_owner(port)
        assert owner is not None and "pid" in owner
        with pytest.raises(procs.PortInUseError, match=rf"port {port} \(gcs\) is already in use"):
            procs.ensure_ports_free({"gcs": port}, "the serve zone")
    assert procs.port_owner(port) is None


def test_wait_until_fails_fast_with_the_log_when_the_process_dies(tmp_path: Path) -> None:
    record = procs.spawn(
        [sys.executable, "-c", "print('boom: bad flag'); raise SystemExit(1)"],
        {},
        tmp_path / "dies.log",
        cwd=tmp_path,
    )
    started = time.monotonic()
    with pytest.raises(procs.ServiceStartError, match=r"exited during start-up(.|\n)*boom"):
        procs.wait_until(lambda: False, record, "the thing", timeout_s=30)
    assert time.monotonic() - started < 10
