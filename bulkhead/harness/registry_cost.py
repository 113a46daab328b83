"""What one replica's poll costs the registry, and how the registry's load grows with replicas.

A poll is the call every replica makes each ``poll_interval_s``: resolve the alias as the serve
zone's read-only user. Its cost is the registry's CPU time (every process of its session)
spent per poll, measured over back-to-back polls from here; the idle replicas' own polls in
the same window are a fraction of a percent of them. The growth is the registry's CPU, in %
of one core, while 1, 2 and 4 real replicas poll and nothing else happens.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
from pydantic import BaseModel, Field

from bulkhead.harness.cost import cpu_seconds, cpu_used
from bulkhead.platform.core import Platform
from bulkhead.platform.procs import proven_members


class PollCost(BaseModel):
    way: str
    polls: int
    cpu_ms_per_poll: float = Field(description="Registry CPU time per alias lookup.")
    wall_ms_per_poll: float = Field(description="Round trip of one alias lookup.")


class ReplicaLoad(BaseModel):
    replicas: int
    seconds: float
    registry_core_pct: float = Field(description="Registry CPU over the window, % of a core.")


def registry_processes(platform: Platform) -> list[psutil.Process]:
    state = platform.load_state()
    if state.registry is None:
        raise RuntimeError("the registry is not running")
    return proven_members(state.registry.process)


def poll_cost(platform: Platform, polls: int = 200) -> list[PollCost]:
    """Alias lookups as the serve zone's user, back to back, three ways: MLflow's own call;
    the poll route answering from its cache (what most polls get); the poll route asked for a
    fresh lookup (``Cache-Control: no-cache``: what a poll costs when the answer expired or a
    write dropped it). The replicas' own polls in the same seconds add under 1 %."""
    import httpx

    from contracts.registry_api import ALIAS_POLL_ROUTE

    credentials = platform.credentials("server")
    verify: str | bool = str(credentials.ca_file) if credentials.ca_file else True
    auth = (credentials.username, credentials.password.get_secret_value())
    query = {"name": platform.model_name, "alias": "champion"}
    ways: tuple[tuple[str, str, dict[str, str]], ...] = (
        ("MLflow's registered-models/alias", "/api/2.0/mlflow/registered-models/alias", {}),
        ("poll route, cached answer", ALIAS_POLL_ROUTE, {}),
        ("poll route, fresh lookup", ALIAS_POLL_ROUTE, {"Cache-Control": "no-cache"}),
    )
    procs = registry_processes(platform)
    results = []
    with httpx.Client(base_url=credentials.tracking_uri, auth=auth, verify=verify) as client:
        for way, route, headers in ways:
            for _ in range(5):  # warm: connection, credential and permission caches
                client.get(route, params=query, headers=headers).raise_for_status()
            before = cpu_seconds(procs)
            started = time.perf_counter()
            for _ in range(polls):
                client.get(route, params=query, headers=headers).raise_for_status()
            wall = time.perf_counter() - started
            after = cpu_seconds(procs)
            used = cpu_used(before, after)
            results.append(
                PollCost(
                    way=way,
                    polls=polls,
                    cpu_ms_per_poll=round(1000 * used / polls, 2),
                    wall_ms_per_poll=round(1000 * wall / polls, 2),
                )
            )
    return results


def registry_load(platform: Platform, replicas: int, seconds: float) -> ReplicaLoad:
    procs = registry_processes(platform)
    before = cpu_seconds(procs)
    time.sleep(seconds)
    after = cpu_seconds(procs)
    used = cpu_used(before, after)
    return ReplicaLoad(
        replicas=replicas, seconds=seconds, registry_core_pct=round(100 * used / seconds, 2)
    )


class RegistryScaling(BaseModel):
    """The registry's CPU while 1, 2 and 4 real replicas poll it and nothing else happens."""

    loads: list[ReplicaLoad]
    polls_per_replica_s: float = Field(description="1 / the replicas' poll interval.")
    cpu_ms_per_poll: float = Field(description="Slope of the fit: extra CPU per extra poll.")
    idle_core_pct: float = Field(description="Intercept: the registry with no poller.")


def serve_replicas(platform: Platform) -> int:
    from bulkhead.harness.chaos.base import process_title
    from bulkhead.platform.procs import session_members
    from bulkhead.platform.settings import Zone

    zone = platform.load_state().zones.get(Zone.SERVE)
    members = session_members(zone.process.pid) if zone else []
    return sum(1 for p in members if process_title(p).startswith("ray::ServeReplica"))


def registry_scaling(
    platform: Platform,
    config: Path,
    counts: tuple[int, ...] = (1, 2, 4),
    seconds: float = 45.0,
    poll_interval_s: float = 2.0,
    settle_s: float = 25.0,
) -> RegistryScaling:
    """Pin the serve app at each replica count (a quarter CPU each, so four fit on a small
    node), let them settle, sample the registry; then the user's config again."""
    from bulkhead.operations.deploy import deploy

    loads = []
    try:
        for count in counts:
            pinned = {
                "num_replicas": count,
                "autoscaling_config": None,
                "ray_actor_options": {"num_cpus": 0.25},
            }
            deploy(platform, config, {"poll_interval_s": poll_interval_s}, pinned)
            deadline = time.monotonic() + 120
            while serve_replicas(platform) != count and time.monotonic() < deadline:
                time.sleep(1)
            # New replicas download, verify and load the bundle (heavy registry traffic);
            # then each polls on its own jittered rhythm.
            time.sleep(settle_s)
            with platform.reporter.step(f"registry CPU with {count} replica(s) polling"):
                loads.append(registry_load(platform, count, seconds))
            platform.reporter.info(
                f"  {count} replica(s): registry {loads[-1].registry_core_pct}% of a core"
            )
    finally:
        deploy(platform, config)
    xs = [load.replicas / poll_interval_s for load in loads]  # polls per second
    ys = [load.registry_core_pct * 10 for load in loads]  # ms of CPU per second
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs) or 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return RegistryScaling(
        loads=loads,
        polls_per_replica_s=round(1 / poll_interval_s, 3),
        cpu_ms_per_poll=round(slope, 2),
        idle_core_pct=round((mean_y - slope * mean_x) / 10, 2),
    )
