"""What the running platform costs while it waits: CPU and memory (PSS) per service.

Sampled from the processes of each service's session (`up` starts every service in a session
of its own), so the figures include every helper Ray, MLflow or HAProxy spawned.
"""

from __future__ import annotations

import os
import time

import psutil
from pydantic import BaseModel, Field

from bulkhead.platform.core import Platform
from bulkhead.platform.procs import ProcessRecord, proven_members


class ServiceCost(BaseModel):
    service: str
    processes: int
    cpu_core_pct: float = Field(description="CPU time over the window, % of one core.")
    pss_mb: float = Field(description="Proportional set size: shared pages split fairly.")


class PlatformCost(BaseModel):
    seconds: float
    cores: int
    services: list[ServiceCost]
    cpu_machine_pct: float = Field(description="All services' CPU, % of the whole machine.")
    pss_mb: float


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            seconds[proc.pid] = times.user + times.system
        except psutil.Error:
            continue
    return seconds


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two ``cpu_seconds`` samples of the same processes (one
    missing from the first sample adds nothing)."""
    return sum(after[pid] - before.get(pid, after[pid]) for pid in after)


def _pss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_full_info().pss
        except psutil.Error:
            continue
    return total / 1024**2


def measure(platform: Platform, seconds: float = 30.0) -> PlatformCost:
    """Sample every service's processes twice, ``seconds`` apart, while nothing is asked."""
    state = platform.load_state()
    # Everything `up` started counts, service by service (a service added to the list is
    # measured too): what waits costs whatever started it.
    records: dict[str, ProcessRecord] = {}
    for service in platform.services:
        found = service.records(state)
        for index, record in enumerate(found):
            name = service.name if len(found) == 1 else f"{service.name} {index + 1}"
            records[name] = record
    members = {name: proven_members(record) for name, record in records.items()}
    before = {name: cpu_seconds(procs) for name, procs in members.items()}
    with platform.reporter.progress("sampling the idle platform (s)", seconds) as update:
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            update("sampling the idle platform (s)", seconds - left)
            time.sleep(min(0.5, left))
    services = []
    for name, procs in members.items():
        after = cpu_seconds(procs)
        used = cpu_used(before[name], after)
        services.append(
            ServiceCost(
                service=name,
                processes=len(after),
                cpu_core_pct=round(100 * used / seconds, 1),
                pss_mb=round(_pss_mb(procs), 0),
            )
        )
    cores = os.cpu_count() or 1
    return PlatformCost(
        seconds=seconds,
        cores=cores,
        services=services,
        cpu_machine_pct=round(sum(s.cpu_core_pct for s in services) / cores, 1),
        pss_mb=round(sum(s.pss_mb for s in services), 0),
    )
