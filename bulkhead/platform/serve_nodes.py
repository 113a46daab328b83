"""The worker nodes of a serve zone of several nodes (`up --serve-nodes N`), on one machine.

Each worker node is a real Ray node: ``ray start --address`` to the serve head with the zone's
token, TLS settings and Unix identity, and its own raylet, object store and Serve ingress. The
nodes share the machine, so they share an address (SERVE_NODES_HOST; Ray would rewrite
127.0.0.1 to the machine's address for a worker) and each takes its own block of ports; the
ingress of node k listens on its own ``node_http`` port, which is what the front balancer
(bulkhead/platform/balancer.py) checks and sends to. Replicas on every node bind 127.0.0.1,
where each node's HAProxy reaches them (Ray's ingress sends to replicas "on its node" at
loopback, and on one machine every replica is). Serve hands out replica ports per node from
one range; a port another node's replica holds fails to bind, and Serve blocks it and takes
the next one.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bulkhead.platform.identity import SERVICE_UMASK, Identity, Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import (
    ProcessRecord,
    ensure_ports_free,
    is_alive,
    spawn,
    stop_ray_node,
    tcp_open,
    wait_until,
)
from bulkhead.platform.service import Context, Service
from bulkhead.platform.settings import PlatformSettings, Zone
from bulkhead.platform.state import PlatformState, ZoneState, serve_node_key
from bulkhead.platform.zone_files import ray_temp_folder

__all__ = [
    "ServeWorkersService",
    "drain_worker",
    "node_resource",
    "start_worker",
    "worker_command",
    "worker_env",
    "worker_node_id",
    "worker_temp_dir",
]


def worker_temp_dir(paths: StatePaths, node: int) -> Path:
    """Next to the head's (short, for Ray's Unix sockets)."""
    head = paths.ray_temp_dir(Zone.SERVE)
    return head.with_name(f"{head.name}-n{node}")


def worker_env(settings: PlatformSettings, paths: StatePaths, node: int) -> dict[str, str]:
    from bulkhead.platform.services import serve_ingress_env, zone_env

    env = zone_env(settings, paths, Zone.SERVE)
    env.update(serve_ingress_env(settings, paths, node))
    # A worker node refuses to join unless multi-node clusters are enabled; the head's address
    # is not 127.0.0.1, so Ray keeps it as given.
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1"
    env["TMPDIR"] = str(worker_temp_dir(paths, node))
    env["BULKHEAD_SERVE_NODE"] = str(node)
    return env


def worker_command(
    settings: PlatformSettings, paths: StatePaths, node: int, head_gcs: str
) -> list[str]:
    from bulkhead.platform.services import node_port_flags, venv_bin

    serve = settings.serve
    ports = serve.node_ports(node)
    return [
        str(venv_bin() / "ray"),
        "start",
        "--block",
        f"--address={head_gcs}",
        f"--node-ip-address={settings.zone_host(Zone.SERVE)}",
        *node_port_flags(ports),
        f"--num-cpus={serve.num_cpus:g}",
        f"--object-store-memory={serve.worker_object_store_mb * 1024 * 1024}",
        f"--temp-dir={worker_temp_dir(paths, node)}",
        # The node's own resource names it to the control plane (`ray list nodes` shows
        # resources, and this `ray start` takes no labels): how `drain_worker` finds it.
        f'--resources={{"zone_{Zone.SERVE.value}": 1000, "{node_resource(node)}": 1}}',
        "--disable-usage-stats",
    ]


def node_resource(node: int) -> str:
    return f"bulkhead_serve_node_{node}"


def _ray(zone: ZoneState, *args: str) -> str:
    """One `ray` CLI call against the serve zone, with its token; stdout, or RuntimeError
    with what Ray said."""
    from bulkhead.platform.services import ray_client_env, venv_bin

    done = subprocess.run(
        [str(venv_bin() / "ray"), *args],
        env={**os.environ, **ray_client_env(zone.token_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def worker_node_id(zone: ZoneState, node: int) -> str | None:
    """Ray's id of serve worker node ``node`` (alive), from the zone's state API."""
    listed = _ray(
        zone,
        *("list", "nodes", "--address", zone.dashboard_url, "--format", "json", "--detail"),
        *("--filter", "state=ALIVE"),
    )
    wanted = node_resource(node)
    for row in json.loads(listed or "[]"):
        if wanted in (row.get("resources_total") or {}):
            return str(row["node_id"])
    return None


def drain_worker(zone: ZoneState, node: int, deadline_s: int) -> str:
    """Tell Ray that worker node ``node`` goes away in ``deadline_s``: Serve stops starting
    anything there, tries to start its replicas elsewhere, and stops each one *gracefully*
    (out of every ingress's rotation, requests in flight finished) at the latest
    ``graceful_shutdown_timeout_s`` before the deadline. Stopping the node before that would
    cut the requests other nodes' ingresses had sent to its replicas. Returns the node id."""
    node_id = worker_node_id(zone, node)
    if node_id is None:
        raise RuntimeError(f"serve worker node {node} is not alive in the zone's cluster")
    _ray(
        zone,
        *("drain-node", "--address", zone.gcs_address, "--node-id", node_id),
        *("--reason", "DRAIN_NODE_REASON_PREEMPTION"),
        *("--reason-message", f"bulkhead: serve worker node {node} restarts"),
        *("--deadline-remaining-seconds", str(deadline_s)),
    )
    return node_id


def start_worker(
    settings: PlatformSettings,
    paths: StatePaths,
    node: int,
    head_gcs: str,
    prefix: Sequence[str] = (),
    identity: Identity | None = None,
) -> ProcessRecord:
    """Start worker node ``node`` (1..N-1) and wait until its raylet listens."""
    from bulkhead.platform.services import write_haproxy_wrapper

    gid = identity.gid if identity is not None else None
    ray_temp_folder(worker_temp_dir(paths, node), gid)
    write_haproxy_wrapper(settings.serve, paths, node, gid)
    drop = identity.drop_prefix() if identity is not None else []
    record = spawn(
        [*prefix, *drop, *worker_command(settings, paths, node, head_gcs)],
        worker_env(settings, paths, node),
        paths.log_file(f"ray-serve-n{node}"),
        cwd=paths.service_home(Role.SERVE),
        umask=SERVICE_UMASK,
    )
    host, port = settings.zone_host(Zone.SERVE), settings.serve.node_ports(node).node_manager
    wait_until(
        lambda: tcp_open(host, port),
        record,
        f"serve worker node {node}'s raylet",
        settings.startup_timeout_s,
    )
    return record


class ServeWorkersService(Service):
    """The serve zone's worker nodes 1..N-1, each joined to the serve head."""

    name = "serve worker nodes"
    stops_in_parallel = True

    def wanted(self, settings: PlatformSettings) -> bool:
        return settings.serve.multi_node

    def records(self, state: PlatformState) -> list[ProcessRecord]:
        return [record for _, record in sorted(state.serve_workers().items())]

    def title(self, ctx: Context) -> str:
        return f"{ctx.settings.serve.nodes - 1} serve worker node(s)"

    def up(self, ctx: Context) -> None:
        """Each node in a step of its own: a node that runs is kept, a dead one started."""
        from bulkhead.platform.balancer import node_address

        head = ctx.state.zones[Zone.SERVE]
        serve = ctx.settings.serve
        for node in range(1, serve.nodes):
            record = ctx.state.serve_workers().get(node)
            title = (
                f"serve worker node {node}: joins {head.gcs_address} ({serve.num_cpus:g} CPU, "
                f"ingress at {node_address(ctx.settings, node)})"
            )
            if record is not None and is_alive(record):
                ctx.reporter.done(f"{title} (already running)")
                continue
            with ctx.step(title):
                ensure_ports_free(
                    {
                        **serve.node_ports(node).listening(),
                        "node ingress": serve.node_ingress_ports(node).node_http,
                    },
                    f"serve worker node {node}",
                )
                record = start_worker(
                    ctx.settings,
                    ctx.paths,
                    node,
                    head.gcs_address,
                    identity=ctx.identity(Role.SERVE),
                )
                ctx.record_started(record)
                ctx.state.processes[serve_node_key(node)] = record
                ctx.save()

    def stop(self, ctx: Context) -> int:
        found = self.records(ctx.state)
        if found:
            with ThreadPoolExecutor(max_workers=len(found)) as pool:
                list(pool.map(stop_ray_node, found))
        for record in found:
            ctx.state.forget_record(record)
        return len(found)
