"""Per-version figures from Prometheus text as Ray exports it (labels and names included)."""

from __future__ import annotations

import pytest

from bulkhead.delivery.figures import Window, parse, quantile

CALLS = "ray_bulkhead_version_calls_total"
LATENCY = "ray_bulkhead_version_model_latency_ms_bucket"
SHADOW = "ray_bulkhead_shadow_texts_total"
TYPES = {
    CALLS: "ray_bulkhead_version_calls_total counter",
    LATENCY: "ray_bulkhead_version_model_latency_ms histogram",
    SHADOW: "ray_bulkhead_shadow_texts_total counter",
}


def sample(name: str, value: float, replica: str = "a", **labels: str) -> tuple[str, str, float]:
    tags = {"Component": "core_worker", "Version": "2.60.0", "model": "m", "replica": replica}
    tags.update(labels)
    text = ",".join(f'{k}="{v}"' for k, v in tags.items())
    return name, text, value


def exposition(samples: list[tuple[str, str, float]]) -> str:
    lines = []
    for name in TYPES:
        lines.append(f"# TYPE {TYPES[name]}")
        lines += [f"{n}{{{labels}}} {value}" for n, labels, value in samples if n == name]
    return "\n".join(lines) + "\n"


def replica_samples(replica: str, ok: float, errors: float, fast: float, total: float) -> list:
    return [
        sample(CALLS, ok, replica, version="1", path="served", outcome="ok"),
        sample(CALLS, errors, replica, version="2", path="served", outcome="error"),
        sample(CALLS, 10, replica, version="2", path="served", outcome="ok"),
        sample(LATENCY, fast, replica, version="2", path="served", le="5.0"),
        sample(LATENCY, total, replica, version="2", path="served", le="+Inf"),
        sample(SHADOW, 9, replica, version="2", agree="true"),
        sample(SHADOW, 1, replica, version="2", agree="false"),
        sample(CALLS, 99, replica, version="9", path="served", outcome="ok", model="other"),
    ]


def test_replicas_are_summed_and_other_models_ignored() -> None:
    text = exposition(replica_samples("a", 100, 2, 8, 10) + replica_samples("b", 50, 0, 8, 10))
    totals = parse(text, "m")
    assert set(totals) == {"1", "2"}
    assert totals["1"].calls[("served", "ok")] == 150
    assert totals["2"].shadow == {"true": 18, "false": 2}
    assert totals["2"].buckets["served"][5.0] == 16


def test_window_figures_are_differences_and_survive_a_counter_reset() -> None:
    before = parse(exposition(replica_samples("a", 100, 2, 8, 10)), "m")
    after = parse(exposition(replica_samples("a", 130, 5, 18, 30)), "m")
    window = Window(before, after)
    v1 = window.figures("1", "served")
    v2 = window.figures("2", "served")
    assert v1.requests == 30 and v1.errors == 0
    assert v2.requests == 3 and v2.errors == 3  # ok calls unchanged, 3 new errors
    assert v2.p99_ms == 5.0  # 10 of 20 new calls above 5 ms: the +Inf bucket's lower edge
    restarted = parse(exposition(replica_samples("a", 7, 0, 1, 1)), "m")
    assert Window(after, restarted).figures("1", "served").requests == 7


def test_quantile_interpolates_within_a_bucket() -> None:
    assert quantile({1.0: 0, 2.0: 100, float("inf"): 100}, 0.5) == pytest.approx(1.5)
    assert quantile({1.0: 0, float("inf"): 0}, 0.99) is None


def test_one_replicas_restart_is_not_hidden_by_the_others_growth() -> None:
    """Found by review: the sum was taken before the difference, so one replica restarting
    while another kept counting gave a sum that went down (read as a reset of everything) or
    a difference that was too small."""
    before = parse(
        exposition(replica_samples("a", 100, 0, 8, 10) + replica_samples("b", 100, 0, 8, 10)),
        "m",
    )
    after = parse(
        exposition(replica_samples("a", 130, 0, 8, 10) + replica_samples("b", 7, 0, 1, 1)), "m"
    )
    assert Window(before, after).figures("1", "served").requests == 30 + 7
    grown = parse(
        exposition(replica_samples("a", 300, 0, 8, 10) + replica_samples("b", 7, 0, 1, 1)), "m"
    )
    assert Window(before, grown).figures("1", "served").requests == 200 + 7


def test_the_controller_reads_every_serve_nodes_metrics() -> None:
    """Found by review: only the head's endpoint was read, so a replica on a worker node
    was invisible to the rollout's decisions."""
    from types import SimpleNamespace

    from bulkhead.operations.rollout import metrics_urls
    from bulkhead.platform.settings import PlatformSettings

    settings = PlatformSettings().with_serve_nodes(3)
    urls = metrics_urls(SimpleNamespace(settings=settings))  # type: ignore[arg-type]
    ports = {settings.serve.node_ports(n).metrics_export for n in range(3)}
    assert len(urls) == 3 and {int(u.rsplit(":", 1)[1].split("/")[0]) for u in urls} == ports
