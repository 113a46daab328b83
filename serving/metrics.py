"""A replica's metrics: Ray Serve's Prometheus metrics in a replica, nothing in unit tests."""

from __future__ import annotations

from typing import Protocol


class ReplicaMetrics(Protocol):
    def request(self, route: str, status: int, latency_ms: float) -> None: ...

    def swapped(self, version: str) -> None: ...

    def swap_failed(self, reason: str) -> None: ...


class NoMetrics:
    def request(self, route: str, status: int, latency_ms: float) -> None:
        pass

    def swapped(self, version: str) -> None:
        pass

    def swap_failed(self, reason: str) -> None:
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

    def request(self, route: str, status: int, latency_ms: float) -> None:
        self._requests.inc(tags={"route": route, "status": str(status)})
        self._latency.observe(latency_ms, tags={"route": route})

    def swapped(self, version: str) -> None:
        self._swaps.inc()
        self._version.set(float(version))

    def swap_failed(self, reason: str) -> None:
        self._swap_failures.inc(tags={"reason": reason})
