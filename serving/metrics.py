"""A replica's metrics: Ray Serve's Prometheus metrics in a replica, nothing in unit tests.

Per-version series carry ``model`` and ``version`` labels: the rollout controller compares a
candidate with the champion from them (bulkhead/delivery/figures.py reads these names).
"""

from __future__ import annotations

from typing import Literal, Protocol

# How a version's model call came about: it answered the client, or it ran as a shadow copy.
CallPath = Literal["served", "shadow"]

# Model-call latency buckets (ms): fine enough for a p99 ratio between two versions.
VERSION_LATENCY_BUCKETS: list[float] = [
    0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50,
    60, 80, 100, 150, 200, 300, 500, 1000, 2000, 5000,
]  # fmt: skip


class ReplicaMetrics(Protocol):
    def request(self, route: str, status: int, latency_ms: float) -> None: ...

    def swapped(self, version: str) -> None: ...

    def swap_failed(self, reason: str) -> None: ...

    def version_call(
        self,
        model: str,
        version: str,
        path: CallPath,
        ok: bool,
        model_ms: float,
        labels: list[str],
    ) -> None: ...

    def shadow_compared(self, model: str, version: str, mirrored: int, agreed: int) -> None: ...

    def shadow_dropped(self, model: str, version: str, reason: str) -> None: ...

    def rollout_seen(self, model: str, weight: int, candidate: str | None) -> None: ...

    def payload_records(self, model: str, outcome: str, count: int) -> None: ...


class NoMetrics:
    def request(self, route: str, status: int, latency_ms: float) -> None:
        pass

    def swapped(self, version: str) -> None:
        pass

    def swap_failed(self, reason: str) -> None:
        pass

    def version_call(
        self,
        model: str,
        version: str,
        path: CallPath,
        ok: bool,
        model_ms: float,
        labels: list[str],
    ) -> None:
        pass

    def shadow_compared(self, model: str, version: str, mirrored: int, agreed: int) -> None:
        pass

    def shadow_dropped(self, model: str, version: str, reason: str) -> None:
        pass

    def rollout_seen(self, model: str, weight: int, candidate: str | None) -> None:
        pass

    def payload_records(self, model: str, outcome: str, count: int) -> None:
        pass


class RayMetrics:
    """``bulkhead_*`` metrics on the Ray metrics endpoint (needs a running replica)."""

    def __init__(self) -> None:
        from ray.serve import metrics

        self._requests = metrics.Counter(
            "bulkhead_requests",
            "Requests by route and status.",
            tag_keys=("route", "status"),  # type: ignore[arg-type]
        )
        self._latency = metrics.Histogram(
            "bulkhead_request_latency_ms",
            "Request latency in milliseconds.",
            boundaries=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
            tag_keys=("route",),
        )
        self._version = metrics.Gauge("bulkhead_model_version", "Model version served.")
        self._swaps = metrics.Counter("bulkhead_model_swaps", "Successful model swaps.")
        self._swap_failures = metrics.Counter(
            "bulkhead_model_swap_failures", "Rejected or failed model loads.", tag_keys=("reason",)
        )

        self._version_calls = metrics.Counter(
            "bulkhead_version_calls",
            "Model calls per version: path served|shadow, outcome ok|error.",
            tag_keys=("model", "version", "path", "outcome"),  # type: ignore[arg-type]
        )
        self._version_latency = metrics.Histogram(
            "bulkhead_version_model_latency_ms",
            "Model call time per version (tokenise + infer + postprocess), milliseconds.",
            boundaries=VERSION_LATENCY_BUCKETS,
            tag_keys=("model", "version", "path"),  # type: ignore[arg-type]
        )
        self._version_labels = metrics.Counter(
            "bulkhead_version_predicted_labels",
            "Labels each version answered clients with.",
            tag_keys=("model", "version", "label"),  # type: ignore[arg-type]
        )
        self._shadow_texts = metrics.Counter(
            "bulkhead_shadow_texts",
            "Texts a shadow copy compared with the champion's answer: agree true|false.",
            tag_keys=("model", "version", "agree"),  # type: ignore[arg-type]
        )
        self._shadow_dropped = metrics.Counter(
            "bulkhead_shadow_dropped",
            "Shadow copies not run, by reason (busy: the replica had real work).",
            tag_keys=("model", "version", "reason"),  # type: ignore[arg-type]
        )
        self._rollout_weight = metrics.Gauge(
            "bulkhead_rollout_weight",
            "Canary share in percent this replica applies (0: none or shadow).",
            tag_keys=("model",),
        )
        self._payload_records = metrics.Counter(
            "bulkhead_payload_records",
            "Payload-log records by outcome: sent, or dropped (buffer_full, drop_busy, "
            "drop_unreachable, too_large) without ever holding a request.",
            tag_keys=("model", "outcome"),  # type: ignore[arg-type]
        )
        self._rollout_candidate = metrics.Gauge(
            "bulkhead_rollout_candidate_version",
            "The rollout candidate this replica holds (0: none).",
            tag_keys=("model",),
        )

    def request(self, route: str, status: int, latency_ms: float) -> None:
        self._requests.inc(tags={"route": route, "status": str(status)})
        self._latency.observe(latency_ms, tags={"route": route})

    def swapped(self, version: str) -> None:
        self._swaps.inc()
        self._version.set(float(version))

    def swap_failed(self, reason: str) -> None:
        self._swap_failures.inc(tags={"reason": reason})

    def version_call(
        self,
        model: str,
        version: str,
        path: CallPath,
        ok: bool,
        model_ms: float,
        labels: list[str],
    ) -> None:
        tags = {"model": model, "version": version, "path": path}
        self._version_calls.inc(tags={**tags, "outcome": "ok" if ok else "error"})
        if ok:
            self._version_latency.observe(model_ms, tags=tags)
        if path == "served":
            for label in labels:
                self._version_labels.inc(tags={"model": model, "version": version, "label": label})

    def shadow_compared(self, model: str, version: str, mirrored: int, agreed: int) -> None:
        tags = {"model": model, "version": version}
        if agreed:
            self._shadow_texts.inc(agreed, tags={**tags, "agree": "true"})
        if mirrored - agreed:
            self._shadow_texts.inc(mirrored - agreed, tags={**tags, "agree": "false"})

    def shadow_dropped(self, model: str, version: str, reason: str) -> None:
        self._shadow_dropped.inc(tags={"model": model, "version": version, "reason": reason})

    def rollout_seen(self, model: str, weight: int, candidate: str | None) -> None:
        self._rollout_weight.set(float(weight), tags={"model": model})
        self._rollout_candidate.set(float(candidate or 0), tags={"model": model})

    def payload_records(self, model: str, outcome: str, count: int) -> None:
        if count:
            self._payload_records.inc(count, tags={"model": model, "outcome": outcome})
