"""What one replica's poll costs the registry, and how the registry's load grows with replicas.

A poll is the call every replica makes each ``poll_interval_s``: resolve the alias as the serve
zone's read-only user. Its cost is the registry's CPU time (every process of its session)
spent per poll, measured over back-to-back polls from here; the idle replicas' own polls in
the same window are a fraction of a percent of them. The growth is the registry's CPU, in %
of one core, while 1, 2 and 4 real replicas poll and nothing else happens.
"""

from __future__ import annotations

import time

import psutil
from pydantic import BaseModel, Field

from bulkhead.harness.cost import cpu_seconds
from bulkhead.platform.core import Platform
from bulkhead.platform.procs import proven_members


class PollCost(BaseModel):
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


def poll_cost(platform: Platform, polls: int = 200) -> PollCost:
    from registry.reader import RegistryReader

    platform.credentials("server").activate()
    reader = RegistryReader()
    name = platform.settings.model_name
    for _ in range(5):  # warm: connection pool, credential cache
        reader.resolve(name, "champion")
    procs = registry_processes(platform)
    before = cpu_seconds(procs)
    started = time.perf_counter()
    for _ in range(polls):
        reader.resolve(name, "champion")
    wall = time.perf_counter() - started
    after = cpu_seconds(procs)
    used = sum(after[pid] - before.get(pid, after[pid]) for pid in after)
    return PollCost(
        polls=polls,
        cpu_ms_per_poll=round(1000 * used / polls, 2),
        wall_ms_per_poll=round(1000 * wall / polls, 2),
    )


def registry_load(platform: Platform, replicas: int, seconds: float) -> ReplicaLoad:
    procs = registry_processes(platform)
    before = cpu_seconds(procs)
    time.sleep(seconds)
    after = cpu_seconds(procs)
    used = sum(after[pid] - before.get(pid, after[pid]) for pid in after)
    return ReplicaLoad(
        replicas=replicas, seconds=seconds, registry_core_pct=round(100 * used / seconds, 2)
    )
