"""The front load balancer of a serve zone of several nodes (`up --serve-nodes N`).

What a cloud load balancer or a Kubernetes Service is in production: one address (the
platform's serve port) in front of every node's own Serve ingress, health-checked on
readiness, retrying a request whose node failed before answering on another node
(predictions are pure functions of the request), draining on shutdown. It is HAProxy, the
binary Ray ships, configured by us (Serve's own HAProxy on each node stays Serve's).
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict

from bulkhead.platform.haproxy_wrapper import REQUEST_TIMEOUT_ERRORFILE, drop_client_headers_lines
from bulkhead.platform.identity import Identity, Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ProcessRecord, ensure_ports_free, running_leader, stop_session
from bulkhead.platform.service import Context, Service
from bulkhead.platform.services import start_own_haproxy, write_request_timeout_errorfile
from bulkhead.platform.settings import PlatformSettings
from bulkhead.platform.state import BALANCER
from bulkhead.platform.zone_files import hand_to_zone
from contracts import serve_api

# Readiness of the default application: 200 once a replica serves a verified model.
CHECK_PATH = serve_api.READY
CHECK_INTERVAL_MS = 1000
# A node is out after two failed checks (or three connection errors on live traffic) and
# back after two good ones.
CHECK_FALL, CHECK_RISE = 2, 2
RETRIES = 2
# Draining: after SIGUSR1 HAProxy stops accepting, finishes what it holds, and exits.
DRAIN_S = 10.0
LOG_NAME = "serve-balancer"
# A retried request must still be in HAProxy's buffer: room for the largest body the serve
# zone accepts (limits.max_body_bytes, 64 KiB) and its headers.
BUFFER_BYTES = 96 * 1024


class BackendState(BaseModel):
    """One node's ingress as the balancer sees it."""

    model_config = ConfigDict(extra="forbid")

    node: int
    address: str
    status: str  # UP, DOWN, MAINT, no check yet…


def folder(paths: StatePaths) -> Path:
    return paths.haproxy_dir.parent / "lb"


def socket_path(paths: StatePaths) -> Path:
    return folder(paths) / "admin.sock"


def node_address(settings: PlatformSettings, node: int) -> str:
    return f"{settings.host}:{settings.serve.node_ingress_ports(node).node_http}"


def config(settings: PlatformSettings, paths: StatePaths) -> str:
    threads = max(1, min(2, int(settings.serve.num_cpus)))
    servers = "".join(
        f"  server node{k} {node_address(settings, k)}\n" for k in range(settings.serve.nodes)
    )
    return (
        "global\n"
        f"  nbthread {threads}\n"
        "  maxconn 2048\n"
        f"  tune.bufsize {BUFFER_BYTES}\n"
        f"  stats socket {socket_path(paths)} mode 600 level admin\n"
        # A client still connected when the drain ends is cut then, not held for ever.
        f"  hard-stop-after {int(DRAIN_S)}s\n"
        # Only the requests that did not end well, to the balancer's log file: with their
        # termination state, which says which side failed and when.
        "  log stdout format raw local0\n"
        "defaults\n"
        "  mode http\n"
        "  log global\n"
        "  option httplog\n"
        "  option dontlog-normal\n"
        # The nodes are near (here: loopback): a node that does not accept within 500 ms is
        # down, and HAProxy waits min(this, 1 s) before a retry.
        "  timeout connect 500ms\n"
        # Matches the ingress: a silent client is dropped after 30 s.
        "  timeout client 30s\n"
        # Past the nodes' own answer deadline (their JSON 504 reaches the client, not this).
        f"  timeout server {2 * settings.serve.answer_timeout_s}s\n"
        "  timeout http-keep-alive 30s\n"
        # Waiting for whole requests makes the balancer the first to see a trickled body
        # (slowloris): it answers 408 as the nodes' ingresses and replicas would.
        f"  timeout http-request {settings.serve.request_timeout_s}s\n"
        f"  errorfile 408 {paths.serve_etc / REQUEST_TIMEOUT_ERRORFILE}\n"
        f"  retries {RETRIES}\n"
        "  retry-on conn-failure empty-response\n"
        # Only a request HAProxy holds whole can be retried: wait for the body before
        # choosing a node (else a node that dies mid-request costs the client the request).
        "  option http-buffer-request\n"
        "  option redispatch 1\n"
        "frontend serve\n"
        f"  bind {settings.serve_host}:{settings.serve_http_port}\n"
        + "".join(f"  {line}\n" for line in drop_client_headers_lines())
        + "  default_backend serve_nodes\n"
        "backend serve_nodes\n"
        "  balance roundrobin\n"
        f"  option httpchk GET {CHECK_PATH}\n"
        "  http-check expect status 200\n"
        f"  default-server check inter {CHECK_INTERVAL_MS}ms fastinter 250ms downinter 500ms "
        f"fall {CHECK_FALL} rise {CHECK_RISE} observe layer4 error-limit 3 on-error mark-down\n"
        f"{servers}"
    )


def start(
    settings: PlatformSettings,
    paths: StatePaths,
    prefix: Sequence[str] = (),
    identity: Identity | None = None,
) -> ProcessRecord:
    """Runs as the serve zone's identity, like the nodes it fronts; reads its config from
    root's folder (the zone cannot change it) and owns only ``lb/`` (its admin socket)."""
    gid = identity.gid if identity is not None else None
    cfg = paths.serve_etc / "balancer.cfg"
    write_request_timeout_errorfile(settings.serve, paths, gid)
    hand_to_zone(cfg, config(settings, paths), gid)
    return start_own_haproxy(
        paths,
        cfg,
        run_dir=folder(paths),
        log_name=LOG_NAME,
        listens_on=(settings.serve_host, settings.serve_http_port),
        what="the serve zone's front balancer (HAProxy)",
        prefix=prefix,
        identity=identity,
    )


def log_size(paths: StatePaths) -> int:
    """Where the balancer's log ends now: ``logged_since`` reads what comes after."""
    log = paths.log_file(LOG_NAME)
    return log.stat().st_size if log.exists() else 0


def logged_since(paths: StatePaths, offset: int, lines: int = 3) -> list[str]:
    """The first ``lines`` lines the balancer logged after ``offset``: it logs only requests
    that did not end well, with HAProxy's termination state (which side failed, and when)."""
    log = paths.log_file(LOG_NAME)
    if not log.exists():
        return []
    with log.open("rb") as f:
        f.seek(offset)
        text = f.read(64 * 1024).decode(errors="replace")
    return [line for line in text.splitlines() if line.strip()][:lines]


def drain_and_stop(record: ProcessRecord, drain_s: float = DRAIN_S) -> None:
    """Soft stop (SIGUSR1: no new connections, finish the open ones), then stop."""
    with contextlib.suppress(psutil.Error):
        running = running_leader(record)
        if running is not None:
            running.send_signal(signal.SIGUSR1)
            with contextlib.suppress(psutil.TimeoutExpired):
                running.wait(timeout=drain_s)
    stop_session(record)


def _admin(paths: StatePaths, command: str, timeout_s: float = 2.0) -> str | None:
    """One command on the balancer's admin socket; its answer, None when unreachable."""
    return admin_command(socket_path(paths), command, timeout_s)


def admin_command(path: Path, command: str, timeout_s: float = 2.0) -> str | None:
    """One command on an HAProxy admin socket (ours, or Serve's on a node)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    return "".join(c.decode() for c in chunks)


def backends(paths: StatePaths, timeout_s: float = 2.0) -> list[BackendState]:
    """Each node's check status, from the balancer's admin socket (empty when unreachable)."""
    return parse_stat(_admin(paths, "show stat", timeout_s) or "")


def set_node(paths: StatePaths, node: int, state: str) -> bool:
    """``drain`` (no new requests; open ones finish) or ``ready`` (back in rotation)."""
    if state not in ("drain", "ready"):
        raise ValueError(f"unknown server state {state!r}")
    answer = _admin(paths, f"set server serve_nodes/node{node} state {state}")
    return answer is not None and not answer.strip()


def stat_rows(text: str) -> list[dict[str, str]]:
    """``show stat`` CSV as rows keyed by column."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return []
    header = lines[0][2:].split(",")
    return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]


def parse_stat(text: str) -> list[BackendState]:
    """``show stat`` CSV rows of the nodes' servers."""
    found = []
    for row in stat_rows(text):
        name = row.get("svname", "")
        if row.get("pxname") != "serve_nodes" or not name.startswith("node"):
            continue
        found.append(
            BackendState(
                node=int(name[4:]), address=row.get("addr", ""), status=row.get("status", "")
            )
        )
    return sorted(found, key=lambda b: b.node)


class BalancerService(Service):
    """The front HAProxy of a serve zone of several nodes; drained before it stops."""

    name = "front balancer"
    key = BALANCER

    def wanted(self, settings: PlatformSettings) -> bool:
        return settings.serve.multi_node

    def title(self, ctx: Context) -> str:
        return (
            f"front balancer (HAProxy) at {ctx.settings.serve_url} over "
            f"{ctx.settings.serve.nodes} serve nodes' ingresses"
        )

    def start(self, ctx: Context) -> None:
        ensure_ports_free({"serve http": ctx.settings.serve_http_port}, "the balancer")
        record = start(ctx.settings, ctx.paths, identity=ctx.identity(Role.SERVE))
        self.keep(ctx, record)

    def stop(self, ctx: Context) -> int:
        record = ctx.state.process(BALANCER)
        if record is None:
            return 0
        with ctx.step(f"drain and stop the front balancer (up to {DRAIN_S:.0f} s)"):
            drain_and_stop(record)
        self.forget(ctx.state, record)
        return 1
