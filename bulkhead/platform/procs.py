"""Start services in their own process session and stop exactly those sessions.

Every service ``up`` starts (MLflow, each ``ray start --head --block``) becomes the leader of
a new session. Everything it spawns (Ray's GCS, raylet, dashboard, workers) stays in that
session, so ``down`` can stop the whole service and nothing else on the machine — unlike
Ray's own stop command, which kills every Ray cluster it can find.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field

from contracts import env


class ProcessRecord(BaseModel):
    """Enough to find a process again and be sure it is still the one we started."""

    model_config = ConfigDict(extra="forbid")

    pid: int = Field(description="PID of the session leader.")
    create_time: float = Field(description="Start time, guards against PID reuse.")
    log: Path = Field(description="File the service's stdout and stderr go to.")
    marker: str | None = Field(
        None,
        description=(
            "Random value of BULKHEAD_PROCESS_MARKER in the service's environment, inherited by "
            "everything it starts: what proves a process is ours before `down` signals it."
        ),
    )


class ServiceStartError(RuntimeError):
    """A service did not come up; the message says which and why."""


class PortInUseError(ServiceStartError):
    """A port the platform needs is already bound by another process."""


MARKER_ENV = env.PROCESS_MARKER


def spawn(
    cmd: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path, umask: int = -1
) -> ProcessRecord:
    """Start ``cmd`` as the leader of a new session; ``umask`` for what it creates."""
    log.parent.mkdir(parents=True, exist_ok=True)
    marker = secrets.token_hex(16)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            env={**env, MARKER_ENV: marker},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=umask,
        )
    return ProcessRecord(
        pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(), log=log, marker=marker
    )


# Linux derives a process's start time from the boot time in /proc/stat, which the kernel
# recomputes on every read as "wall clock minus uptime" in whole seconds: the same process
# reads a second apart from one call to the next (and more when NTP steps the clock). A
# 1 s tolerance made a running registry look stopped now and then (CI: `status` exited 3).
START_TIME_TOLERANCE_S = 3.0


def started_at(proc: psutil.Process, create_time: float) -> bool:
    """Whether ``proc`` is the process that started at ``create_time`` (PID reuse check)."""
    return abs(proc.create_time() - create_time) <= START_TIME_TOLERANCE_S


def running_leader(record: ProcessRecord) -> psutil.Process | None:
    """The record's process while it lives and is still the one we started; else None."""
    try:
        proc = psutil.Process(record.pid)
        if not started_at(proc, record.create_time) and not (
            record.marker is not None and carries_marker(proc, record.marker)
        ):
            return None  # the PID was reused by an unrelated process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_alive(record: ProcessRecord) -> bool:
    return running_leader(record) is not None


def session_members(session_id: int) -> list[psutil.Process]:
    """Live processes of a session. Zombies are skipped: they are already dead and are
    reaped by whoever adopted them (in containers PID 1 may never reap them)."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == session_id and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return members


def carries_marker(proc: psutil.Process, marker: str) -> bool:
    """Whether ``proc`` inherited our marker; a process we cannot inspect is not ours."""
    try:
        return proc.environ().get(MARKER_ENV) == marker
    except (psutil.Error, OSError):
        return False


def proven_members(
    record: ProcessRecord, known: dict[int, float] | None = None
) -> list[psutil.Process]:
    """Members of the record's session that provably belong to it.

    A session id is only a PID: once our leader is gone, the number can be reused by an
    unrelated process that makes a session of its own. With a marker, a member must carry
    it, or descend from one that does, or be in ``known`` (pid -> start time, taken while the
    family tree was intact: Ray starts some agents with an environment of their own). A record
    written before markers existed falls back to "started after our leader"."""
    members = session_members(record.pid)
    if record.marker is None:
        proven = []
        for proc in members:
            with contextlib.suppress(psutil.Error):
                if proc.create_time() >= record.create_time - START_TIME_TOLERANCE_S:
                    proven.append(proc)
        return proven
    trusted = dict(known or {})
    for proc in members:
        if carries_marker(proc, record.marker):
            trusted.update(family(proc))
    proven = []
    for proc in members:
        with contextlib.suppress(psutil.Error):
            started = trusted.get(proc.pid)
            if started is not None and abs(proc.create_time() - started) < 1.0:
                proven.append(proc)
    return proven


def family(proc: psutil.Process) -> dict[int, float]:
    """``proc`` and all its descendants, pid -> start time."""
    found: dict[int, float] = {}
    with contextlib.suppress(psutil.Error):
        for member in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                found[member.pid] = member.create_time()
    return found


# What a Ray node's processes get between SIGTERM and SIGKILL when the node is stopped.
RAY_NODE_GRACE_S = 5.0


def stop_ray_node(record: ProcessRecord) -> int:
    """A Ray node's session (a zone's head or a serve worker node), all at once."""
    return stop_session(record, grace_s=RAY_NODE_GRACE_S, at_once=True)


def stop_session(record: ProcessRecord, grace_s: float = 10.0, *, at_once: bool = False) -> int:
    """Stop the leader gracefully, then anything left in its session. Returns how many.

    ``at_once``: every process of the session gets SIGTERM together and whatever is left
    after ``grace_s`` SIGKILL. For a Ray node: ``ray start --block`` outlives a SIGTERM by
    more than 10 s and its GCS and raylet another 5 s (measured), so leader first cost ~17 s
    per node, at once ~5 s.

    The session is scanned again until it is empty: a process may spawn while the cluster
    shuts down (Serve reloads HAProxy with a fresh process, for one), and a list taken once at
    the start would miss it.
    """
    leader = running_leader(record)
    if (
        leader is not None
        and record.marker is not None
        and not carries_marker(leader, record.marker)
    ):
        leader = None  # same PID and start time, yet not ours: never signal it
    # Who is ours, taken while the family tree is whole: once the leader stops, its
    # children are re-parented and only the marker (or this list) still proves them.
    known: dict[int, float] = {}
    for proc in proven_members(record):
        known.update(family(proc))
    seen: set[int] = set() if leader is None else {leader.pid}
    if at_once:
        targets = proven_members(record, known)
        seen.update(p.pid for p in targets)
        for proc in targets:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(targets, timeout=grace_s)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
    elif leader is not None:
        leader.send_signal(signal.SIGTERM)
        with contextlib.suppress(psutil.TimeoutExpired):
            leader.wait(timeout=grace_s)
    for _ in range(5):
        survivors = proven_members(record, known)
        if not survivors:
            break
        seen.update(p.pid for p in survivors)
        for proc in survivors:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(survivors, timeout=5)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
    return len(seen)


def port_owner(port: int) -> str | None:
    """Describe the process listening on ``port`` (``None`` when it is free)."""
    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        conns = []
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return "an unknown process"
            try:
                name = " ".join(psutil.Process(conn.pid).cmdline()[:3])
            except psutil.NoSuchProcess:
                name = "a process that just exited"
            return f"pid {conn.pid} ({name})"
    if not _can_bind(port):
        return "another process"
    return None


def _can_bind(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ensure_ports_free(ports: Mapping[str, int], owner: str) -> None:
    for label, port in ports.items():
        holder = port_owner(port)
        if holder is not None:
            raise PortInUseError(
                f"{owner}: port {port} ({label}) is already in use by {holder}; "
                f"stop it or move {owner} with the BULKHEAD_* port settings"
            )


def tcp_open(host: str, port: int, timeout_s: float = 2.0) -> bool:
    """Whether something accepts connections there. A closed port answers at once; the
    timeout only matters for a listener whose backlog is full on a loaded machine, which is
    busy, not stopped (the kernel retries a dropped SYN after 1 s)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def wait_until(
    ready: Callable[[], bool],
    record: ProcessRecord,
    what: str,
    timeout_s: float,
    interval_s: float = 0.5,
) -> None:
    """Poll ``ready()`` until it is true; fail fast with the log tail if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not is_alive(record):
            raise ServiceStartError(
                f"{what} exited during start-up; last lines of {record.log}:\n"
                f"{log_tail(record.log)}"
            )
        time.sleep(interval_s)
    raise ServiceStartError(
        f"{what} was not ready after {timeout_s:.0f} s; last lines of {record.log}:\n"
        f"{log_tail(record.log)}"
    )
