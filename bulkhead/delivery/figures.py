"""Per-version figures from the serve zone's Prometheus endpoints.

Replicas export cumulative counters and histograms (serving/metrics.py); the controller keeps
the totals at the start of a phase and reads the difference since. The difference is taken
per replica (Serve labels every series with its replica) and then summed: a counter that went
down (that replica restarted) counts from zero again, while the others keep their own
differences (a sum taken first would hide one replica's restart behind the others' growth).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from contracts.rollout import StepFigures

CALLS = "ray_bulkhead_version_calls"
LATENCY = "ray_bulkhead_version_model_latency_ms"
SHADOW = "ray_bulkhead_shadow_texts"
DROPPED = "ray_bulkhead_shadow_dropped"


@dataclass
class VersionTotals:
    """Cumulative sums for one version: ``calls[(path, outcome)]``,
    ``buckets[path][le]`` (cumulative histogram), ``shadow[agree]``."""

    calls: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    buckets: dict[str, dict[float, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    shadow: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    dropped: float = 0.0
    # The same sums per replica (its ``replica`` label), where the source has them.
    replicas: dict[str, VersionTotals] = field(default_factory=dict)

    def add(self, other: VersionTotals) -> None:
        for call, count in other.calls.items():
            self.calls[call] += count
        for path, buckets in other.buckets.items():
            for le, value in buckets.items():
                self.buckets[path][le] += value
        for key, value in other.shadow.items():
            self.shadow[key] += value
        self.dropped += other.dropped
        for replica, series in other.replicas.items():
            self.replicas.setdefault(replica, VersionTotals()).add(series)


Totals = dict[str, VersionTotals]  # version -> totals


def parse(text: str, model: str) -> Totals:
    totals: Totals = defaultdict(VersionTotals)
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("ray_bulkhead_"):
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("model") != model or "version" not in labels:
                continue
            summed = totals[labels["version"]]
            replica = summed.replicas.setdefault(labels.get("replica", ""), VersionTotals())
            name = sample.name
            for version in (summed, replica):
                if name.startswith(CALLS) and not name.endswith("_created"):
                    call = (labels.get("path", ""), labels.get("outcome", ""))
                    version.calls[call] += sample.value
                elif name == f"{LATENCY}_bucket":
                    version.buckets[labels.get("path", "")][float(labels["le"])] += sample.value
                elif name.startswith(SHADOW) and not name.endswith("_created"):
                    version.shadow[labels.get("agree", "")] += sample.value
                elif name.startswith(DROPPED) and not name.endswith("_created"):
                    version.dropped += sample.value
    return dict(totals)


def scrape(urls: list[str], model: str, timeout_s: float = 5.0) -> Totals:
    """Every endpoint's totals summed; an endpoint that does not answer raises (the
    controller holds rather than decide on part of the replicas)."""
    merged: Totals = {}
    for url in urls:
        response = httpx.get(url, timeout=timeout_s)
        response.raise_for_status()
        for version, totals in parse(response.text, model).items():
            merged.setdefault(version, VersionTotals()).add(totals)
    return merged


def _since(now: float, then: float) -> float:
    return now - then if now >= then else now  # a reset counter counts from zero


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """The q-quantile of a cumulative histogram, linear within its bucket (Prometheus'
    histogram_quantile); None without observations."""
    edges = sorted(buckets)
    if not edges:
        return None
    total = buckets[edges[-1]] if math.isinf(edges[-1]) else max(buckets.values())
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for edge in edges:
        count = buckets[edge]
        if count >= rank:
            if math.isinf(edge):
                return lower
            width = count - below
            return lower + (edge - lower) * ((rank - below) / width if width else 1.0)
        lower, below = edge, count
    return lower


def _series_delta(now: VersionTotals, then: VersionTotals) -> VersionTotals:
    """One series' (or one sum's) difference, each counter reset-aware."""
    out = VersionTotals()
    for call, count in now.calls.items():
        out.calls[call] = _since(count, then.calls.get(call, 0.0))
    for path, buckets in now.buckets.items():
        for le, value in buckets.items():
            out.buckets[path][le] = _since(value, then.buckets.get(path, {}).get(le, 0.0))
    for key, value in now.shadow.items():
        out.shadow[key] = _since(value, then.shadow.get(key, 0.0))
    out.dropped = _since(now.dropped, then.dropped)
    return out


@dataclass(frozen=True)
class Window:
    """Figures of every version between two scrapes."""

    before: Totals
    after: Totals

    def _delta(self, version: str) -> VersionTotals:
        now = self.after.get(version, VersionTotals())
        then = self.before.get(version, VersionTotals())
        if not now.replicas:
            return _series_delta(now, then)
        out = VersionTotals()
        for replica, series in now.replicas.items():
            out.add(_series_delta(series, then.replicas.get(replica, VersionTotals())))
        return out

    def figures(self, version: str, path: str) -> StepFigures:
        """``path``: "served" (answers to clients) or "shadow" (mirrored copies)."""
        delta = self._delta(version)
        ok = delta.calls.get((path, "ok"), 0.0)
        errors = delta.calls.get((path, "error"), 0.0)
        agreed = delta.shadow.get("true", 0.0)
        mirrored = agreed + delta.shadow.get("false", 0.0)
        p99 = quantile(dict(delta.buckets.get(path, {})), 0.99)
        return StepFigures(
            requests=round(ok + errors),
            errors=round(errors),
            p99_ms=None if p99 is None else round(p99, 2),
            mirrored=round(mirrored),
            agreed=round(agreed),
        )

    def shadow_dropped(self, version: str) -> int:
        return round(self._delta(version).dropped)
