"""Faults of the payload drop: its keeper frozen under load. Payload logging may lose records
(counted by every replica), never a request."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult, scenario_result, skipped, wait
from bulkhead.platform import drop_keeper
from bulkhead.platform.procs import is_alive

PAYLOAD_RECORDS = "ray_bulkhead_payload_records"
# Ray exports replica metrics every few seconds: wait this long before the last scrape.
METRICS_EXPORT_S = 12.0


def payload_outcomes(urls: list[str], model: str) -> Counter[str]:
    """Every replica's payload-log records by outcome (sent, drop_busy, ...), summed."""
    found: Counter[str] = Counter()
    for url in urls:
        with contextlib.suppress(httpx.HTTPError):
            text = httpx.get(url, timeout=5).text
            for family in text_string_to_metric_families(text):
                if not family.name.startswith(PAYLOAD_RECORDS):
                    continue
                for sample in family.samples:
                    if sample.name.endswith("_created") or sample.labels.get("model") != model:
                        continue
                    found[sample.labels.get("outcome", "")] += int(sample.value)
    return found


def drop_stalled(ctx: ChaosContext, stall_s: float = 10.0) -> ScenarioResult:
    """SIGSTOP the drop keeper for ``stall_s`` under closed-loop load, then SIGCONT."""
    from bulkhead.operations.rollout import metrics_urls

    scenario = "drop stalled"
    goal = "0 failed requests; records dropped and counted while stalled; records land after"
    state = ctx.platform.load_state()
    keeper = state.drop_keeper
    if keeper is None or not is_alive(keeper):
        return skipped(scenario, "drop keeper frozen", goal, "no drop keeper running (`up`)")
    fault = f"drop keeper (pid {keeper.pid}) frozen with SIGSTOP for {stall_s:.0f} s under load"
    urls = metrics_urls(ctx.platform)
    model = ctx.model or ctx.platform.settings.model_name

    def written() -> int:
        counted = drop_keeper.stats(ctx.platform.paths)
        return counted.records if counted is not None else 0

    before = payload_outcomes(urls, model)
    with ctx.load() as load:
        time.sleep(3)
        os.kill(keeper.pid, signal.SIGSTOP)
        try:
            time.sleep(stall_s)
        finally:
            os.kill(keeper.pid, signal.SIGCONT)
        resumed_with = written()
        landing = wait(lambda: written() > resumed_with + 10, 30, 0.5)
        time.sleep(2)
    time.sleep(METRICS_EXPORT_S)
    after = payload_outcomes(urls, model)
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    counts = load.counts()
    lost = sum(v for k, v in delta.items() if k != "sent")
    passed = counts.failed == 0 and landing is not None and delta.get("sent", 0) > 0
    return scenario_result(
        scenario,
        fault,
        goal,
        counts,
        landing,
        passed,
        f"payload records: {dict(sorted(delta.items()))} ({lost} dropped and counted); "
        f"records landing again {'never' if landing is None else f'{landing:.1f} s'} after "
        f"SIGCONT; p99 {counts.p99_ok_ms} ms",
    )
