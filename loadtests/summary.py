"""Figures from the raw request log: per-stage percentiles, RPS, failures, versions seen."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from loadtests.profiles import LoadProfile


class Sample(BaseModel):
    model_config = ConfigDict(frozen=True)

    t: float = Field(description="Seconds from the start of the run.")
    name: str
    latency_ms: float
    status: int
    ok: bool
    error: str
    version: str


class Figures(BaseModel):
    """Counts and latency percentiles of one window of requests."""

    requests: int
    failures: int
    http_errors: int = Field(description="Requests the server answered with a status >= 400.")
    connection_errors: int = Field(description="Requests that got no HTTP answer at all.")
    duration_s: float
    rps: float
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    status_codes: dict[str, int]


class StageFigures(Figures):
    stage: str
    users: int
    start_s: float
    end_s: float


class ReplicaPoint(BaseModel):
    t: float
    running: int
    target: int | None


class LoadTestSummary(BaseModel):
    profile: str
    description: str
    target_url: str
    started_at: float = Field(description="Unix time of the first request.")
    warmup_s: float
    overall: Figures = Field(description="Every request after the warm-up.")
    stages: list[StageFigures]
    versions_seen: dict[str, int] = Field(description="Successful responses per model version.")
    replicas: list[ReplicaPoint] = Field(default_factory=list)
    max_replicas: int | None = None
    scale_up_s: float | None = Field(
        None,
        description=(
            "Seconds from the start of the stage with the most users until Serve ran more "
            "replicas than at that stage's start; None when it never scaled up."
        ),
    )
    scale_down_s: float | None = Field(
        None, description="Seconds from the end of that stage until the replica count fell back."
    )


def read_samples(path: Path) -> tuple[float, list[Sample]]:
    """Samples with times relative to the run's first request, and that first request's time."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return 0.0, []
    start = min(float(r["t"]) for r in rows)
    samples = [
        Sample(
            t=float(r["t"]) - start,
            name=r["name"],
            latency_ms=float(r["latency_ms"]),
            status=int(r["status"]),
            ok=r["ok"] == "1",
            error=r["error"],
            version=r["version"],
        )
        for r in rows
    ]
    samples.sort(key=lambda s: s.t)
    return start, samples


def figures(samples: list[Sample], duration_s: float) -> Figures:
    latencies = np.array([s.latency_ms for s in samples if s.ok], dtype=float)

    def pct(q: float) -> float | None:
        return round(float(np.percentile(latencies, q)), 2) if latencies.size else None

    failures = [s for s in samples if not s.ok]
    return Figures(
        requests=len(samples),
        failures=len(failures),
        http_errors=sum(1 for s in failures if s.error == "http"),
        connection_errors=sum(1 for s in failures if s.error == "connection"),
        duration_s=round(duration_s, 2),
        rps=round(len(samples) / duration_s, 2) if duration_s > 0 else 0.0,
        p50_ms=pct(50),
        p90_ms=pct(90),
        p95_ms=pct(95),
        p99_ms=pct(99),
        max_ms=round(float(latencies.max()), 2) if latencies.size else None,
        status_codes=dict(sorted(Counter(str(s.status) for s in samples).items())),
    )


def summarize(
    profile: LoadProfile,
    samples: list[Sample],
    started_at: float,
    target_url: str,
    replicas: list[ReplicaPoint] | None = None,
) -> LoadTestSummary:
    warm = profile.warmup_s
    end = max((s.t for s in samples), default=0.0)
    measured = [s for s in samples if s.t >= warm]
    stages = []
    windows = profile.stage_windows()
    for i, (stage, start, stop) in enumerate(windows):
        # Requests still finishing as Locust stops its users count in the last stage.
        last = i == len(windows) - 1
        lo, hi = max(start, warm), end if last else min(stop, end)
        window = [s for s in measured if lo <= s.t and (last or s.t < stop)]
        stages.append(
            StageFigures(
                stage=stage.name,
                users=stage.users,
                start_s=start,
                end_s=stop,
                **figures(window, max(hi - lo, 0.0)).model_dump(),
            )
        )
    points = replicas or []
    summary = LoadTestSummary(
        profile=profile.name,
        description=profile.description,
        target_url=target_url,
        started_at=started_at,
        warmup_s=warm,
        overall=figures(measured, max(end - warm, 0.0)),
        stages=stages,
        versions_seen=dict(Counter(s.version for s in samples if s.ok and s.version)),
        replicas=points,
        max_replicas=max((p.running for p in points), default=None),
    )
    if points and len(profile.stages) > 1:
        summary.scale_up_s, summary.scale_down_s = _scaling_times(profile, points)
    return summary


def _scaling_times(
    profile: LoadProfile, points: list[ReplicaPoint]
) -> tuple[float | None, float | None]:
    _, start, stop = max(profile.stage_windows(), key=lambda w: w[0].users)
    before = [p.running for p in points if p.t <= start]
    baseline = before[-1] if before else points[0].running
    up = next((p.t - start for p in points if start <= p.t < stop and p.running > baseline), None)
    if up is None:
        return None, None
    down = next((p.t - stop for p in points if p.t >= stop and p.running <= baseline), None)
    return round(up, 1), None if down is None else round(down, 1)
