"""Faults of the serve zone's processes: a replica killed, the HTTP ingress killed, overload."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

from bulkhead.harness.chaos.base import (
    ChaosContext,
    ScenarioResult,
    scenario_result,
    skipped,
    wait,
)
from bulkhead.platform import balancer


def steady_replicas(ctx: ChaosContext, still_s: float = 35.0, timeout_s: float = 100.0) -> None:
    """Wait until the replica count has not changed for ``still_s`` (longer than the serve
    config's 30 s downscale delay): right after a load spike the scenario would otherwise kill
    one of the spike's extra replicas while the autoscaler is removing it, and Serve rightly
    never replaces it (seen once: recovery "None" with 0 requests failed). At the deployed
    config's floor (``min_replicas``) there is nothing to remove: 3 s still is enough (a
    replacement in progress shows as a changing count)."""
    from bulkhead.render.serve_config import replica_floor

    floor = replica_floor(ctx.platform, ctx.application)
    wait_still(lambda: len(ctx.replicas()), floor, still_s, 3.0, timeout_s)


def wait_still(
    count_now: Callable[[], int],
    floor: int | None,
    still_s: float,
    floor_still_s: float,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Until the count has held ``still_s`` (``floor_still_s`` at ``floor``) or the timeout;
    returns the count."""
    deadline = clock() + timeout_s
    count, since = count_now(), clock()
    while clock() < deadline:
        if clock() - since >= (floor_still_s if count == floor else still_s):
            break
        sleep(1)
        now = count_now()
        if now != count:
            count, since = now, clock()
    return count


def replica_crash(ctx: ChaosContext) -> ScenarioResult:
    steady_replicas(ctx)
    before = ctx.replicas()
    if not before:
        raise RuntimeError("no Serve replica process found in the serve zone")
    with ctx.load() as load:
        time.sleep(ctx.steady_s)
        victim = before[0]
        killed_at = load.elapsed()
        os.kill(victim.pid, signal.SIGKILL)
        alive = lambda: len([p for p in ctx.replicas() if p.pid != victim.pid]) >= len(before)  # noqa: E731
        back = wait(alive, 90)
        time.sleep(ctx.steady_s)
    counts = load.counts()
    ok_again = load.first_ok_after(killed_at)
    goal = "≤ 0.1% failed; Serve replaces the replica"
    passed = back is not None and counts.failed <= 0.001 * counts.requests
    return scenario_result(
        "replica crash",
        f"SIGKILL replica pid {victim.pid} ({len(before)} running)",
        goal,
        counts,
        back,
        passed,
        f"replaced in {back if back is None else round(back, 1)} s; first success after the kill "
        f"{None if ok_again is None else round(ok_again - killed_at, 2)} s later",
    )


def ingress_crash(ctx: ChaosContext) -> ScenarioResult:
    """Serve's HAProxy killed. One node: every request fails until Serve restarts it. Several
    nodes: the head node's ingress is killed and the front balancer sends around it."""
    nodes = ctx.platform.settings.serve.nodes
    node = 0 if nodes > 1 else None
    scenario, fault = "ingress (HAProxy) crash", "SIGKILL the serve zone's HAProxy"
    goal = (
        "0 failed; the balancer routes around the node; Serve restarts its ingress"
        if nodes > 1
        else "≤ 0.1% failed; Serve restarts the ingress"
    )
    # Serve may still be restarting the ingress a previous scenario killed.
    wait(lambda: bool(ctx.haproxy(node)), 60, 1.0)
    before = ctx.haproxy(node)
    if not before:
        return skipped(scenario, fault, goal, "no HAProxy process in the serve zone")
    logged_from = balancer.log_size(ctx.platform.paths)
    with ctx.load() as load:
        time.sleep(ctx.steady_s)
        killed_at = load.elapsed()
        killed = 0
        for proc in before:
            # One listed a moment ago may already be gone: Serve replaces HAProxy on reloads.
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
        back = wait(lambda: ctx.node_ingress_ready(0) if nodes > 1 else ctx.predict_ok(), 90)
        time.sleep(ctx.steady_s)
    counts = load.counts()
    logged = ""
    if nodes > 1:
        passed = back is not None and counts.failed == 0
        where = f"node 0's ingress ({nodes} nodes behind the balancer)"
        if counts.failed:
            logged = (
                f"; the balancer logged: {balancer.logged_since(ctx.platform.paths, logged_from)}"
            )
    else:
        passed = back is not None and counts.failed <= 0.001 * counts.requests
        where = "the ingress"
    return scenario_result(
        scenario,
        f"SIGKILL {killed} HAProxy process(es) of {where}",
        goal,
        counts,
        back,
        passed,
        f"{'its ingress ready' if nodes > 1 else 'answering'} again "
        f"{back if back is None else round(back, 1)} s after the kill (kill at {killed_at:.1f} s)"
        f"{logged}",
    )


def overload(ctx: ChaosContext, clients: int = 96, seconds: float | None = None) -> ScenarioResult:
    # Thousands of requests past the queue limit either way; 12 s steady the p99 printed.
    seconds = seconds or ctx.length(12.0, 8.0)
    with ctx.load(clients=clients, timeout_s=30) as load:
        time.sleep(seconds)
    spike = load.counts()
    back = wait(ctx.predict_ok, 30)
    rejected = spike.status_codes.get("503", 0)
    other = spike.http_errors - rejected
    passed = spike.connection_errors == 0 and other == 0 and back is not None
    return scenario_result(
        "overload",
        f"{clients} closed-loop clients for {seconds:.0f} s",
        "fast 503 + Retry-After beyond the queue, no timeouts or other errors, recovers alone",
        spike,
        back,
        passed,
        f"{rejected}x 503 ({spike.rejected_with_retry_after} with Retry-After); "
        f"p99 of accepted {spike.p99_ok_ms} ms; served again {back} s after the spike",
    )
