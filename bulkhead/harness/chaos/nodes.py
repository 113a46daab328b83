"""Faults of a serve zone of several nodes (`up --serve-nodes N`), under load through the
front balancer:

- node-loss: a whole worker node killed (its raylet, its replicas, its ingress: every process
  of the node at once, as when a machine dies), then brought back the way an operator (or
  Kubernetes rescheduling the pod) would, with `bulkhead up`;
- rolling-restart: every worker node in turn taken out of the balancer's rotation (drain),
  drained in Ray (`ray drain-node`: Serve stops its replicas gracefully, out of every node's
  ingress first), stopped, started again by `bulkhead up`, and put back once its replicas
  are up and its ingress is ready, as a rolling upgrade does. The head carries the zone's GCS
  and Serve controller: restarting it restarts the zone (docs/nodes.md).

Replica and ingress faults on several nodes are `replica-crash` and `ingress-crash`, which
judge themselves against the zone they find.
"""

from __future__ import annotations

import contextlib
import signal
import time
from functools import partial

import psutil

from bulkhead.harness.chaos.base import (
    ChaosContext,
    ScenarioResult,
    process_title,
    scenario_result,
    skipped,
    wait,
)
from bulkhead.platform import balancer
from bulkhead.platform.procs import session_members, stop_ray_node
from bulkhead.platform.serve_nodes import drain_worker
from bulkhead.platform.settings import Zone

NODE_LOSS_GOAL = (
    "≤ 0.1% failed; the balancer stops sending to the node; after `up` brings it back, "
    "every model has its replicas again"
)


def _replica_count(ctx: ChaosContext, node: int | None = None) -> int:
    """Replicas on every serve node, or on node ``node``."""
    return len([p for p in ctx.serve_members(node) if "ray::ServeReplica:" in process_title(p)])


def _check(ctx: ChaosContext, node: int) -> str | None:
    return next((b.status for b in balancer.backends(ctx.platform.paths) if b.node == node), None)


def node_loss(
    ctx: ChaosContext, serve_alone_s: float | None = None, back_limit_s: float = 180.0
) -> ScenarioResult:
    serve_alone_s = serve_alone_s or ctx.length(10.0, 5.0)
    scenario, fault = "node loss", "every process of a serve worker node SIGKILLed"
    state = ctx.platform.load_state()
    workers = state.serve_workers()
    if not workers:
        return skipped(
            scenario, fault, NODE_LOSS_GOAL, "the serve zone has one node (`up --serve-nodes 2`)"
        )
    node = max(workers)
    record = workers[node]
    members = session_members(record.pid)
    replicas_before = _replica_count(ctx)
    on_node = len([p for p in members if "ray::ServeReplica:" in process_title(p)])
    with ctx.load() as load:
        time.sleep(ctx.steady_s)
        killed_at = load.elapsed()
        for proc in members:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
        out_s = wait(lambda: _check(ctx, node) not in ("UP", None), 30)
        time.sleep(serve_alone_s)
        restart_at = load.elapsed()
        ctx.platform.up()
        back_s = wait(
            lambda: _replica_count(ctx) >= replicas_before and _check(ctx, node) == "UP",
            back_limit_s,
            1.0,
        )
        time.sleep(ctx.steady_s)
    counts = load.counts()
    passed = back_s is not None and counts.failed <= 0.001 * counts.requests
    out = "never" if out_s is None else f"{out_s:.1f} s after the kill"
    back = (
        f"not within {back_limit_s:.0f} s"
        if back_s is None
        else f"{back_s:.0f} s after `up` (at {restart_at - killed_at:.0f} s)"
    )
    return scenario_result(
        scenario,
        f"{fault}: node {node}, {len(members)} processes incl. {on_node} replica(s); "
        f"{serve_alone_s:.0f} s on the remaining node(s), then `bulkhead up`",
        NODE_LOSS_GOAL,
        counts,
        back_s,
        passed,
        f"balancer marked node {node} down {out}; {replicas_before} replicas again and node "
        f"{node} UP {back}",
    )


def _rejoined(ctx: ChaosContext, node: int, replicas: int) -> bool:
    return _replica_count(ctx) >= replicas and ctx.node_ingress_ready(node)


def _in_rotation(ctx: ChaosContext, node: int) -> bool:
    return _check(ctx, node) == "UP"


ROLLING_GOAL = "0 failed; each worker node drained, restarted and back in rotation in turn"


def _drain_in_ray(ctx: ChaosContext, node: int, deadline_s: int) -> str:
    """Drain the node in Ray and wait until Serve has stopped its replicas gracefully (the
    other nodes' ingresses send to them too: the balancer's drain alone does not cover
    those requests). Says what happened, for the table."""
    zone = ctx.platform.load_state().zones.get(Zone.SERVE)
    if zone is None:
        return "no serve zone"
    try:
        drain_worker(zone, node, deadline_s)
    except RuntimeError as err:  # reported, and the node is stopped as before
        return f"not drained in Ray ({err})"
    limit_s = deadline_s + 20  # Serve force-kills what is left at the deadline
    gone = wait(lambda: _replica_count(ctx, node) == 0, limit_s, 0.25)
    return (
        f"replicas still there {limit_s} s after the drain"
        if gone is None
        else f"replicas stopped by Serve {gone:.0f} s after the drain"
    )


def rolling_restart(
    ctx: ChaosContext, drain_s: float = 3.0, back_limit_s: float = 180.0, ray_deadline_s: int = 12
) -> ScenarioResult:
    scenario = "rolling restart"
    fault = "each serve worker node in turn: drained, stopped, started by `up`, back in rotation"
    workers = sorted(ctx.platform.load_state().serve_workers())
    if not workers:
        why = "the serve zone has one node (`up --serve-nodes 2`)"
        return skipped(scenario, fault, ROLLING_GOAL, why)
    paths = ctx.platform.paths
    replicas_before = _replica_count(ctx)
    took: dict[int, float | None] = {}
    moved: dict[int, str] = {}
    with ctx.load() as load:
        time.sleep(ctx.steady_s)
        for node in workers:
            started = time.monotonic()
            balancer.set_node(paths, node, "drain")
            moved[node] = _drain_in_ray(ctx, node, ray_deadline_s)
            time.sleep(drain_s)  # what the node's ingress holds finishes; nothing new arrives
            record = ctx.platform.load_state().serve_workers().get(node)
            if record is not None:
                stop_ray_node(record)
            ctx.platform.up()
            back = wait(partial(_rejoined, ctx, node, replicas_before), back_limit_s, 1.0)
            balancer.set_node(paths, node, "ready")
            wait(partial(_in_rotation, ctx, node), 15, 0.25)
            took[node] = None if back is None else time.monotonic() - started
        time.sleep(ctx.steady_s)
    counts = load.counts()
    done = all(t is not None for t in took.values())
    passed = done and counts.failed == 0
    steps = ", ".join(
        f"node {n} {'not back' if t is None else f'{t:.0f} s'} ({moved.get(n, '?')})"
        for n, t in took.items()
    )
    total = sum(t for t in took.values() if t is not None)
    return scenario_result(
        scenario,
        f"{fault} ({len(workers)} worker node(s))",
        ROLLING_GOAL,
        counts,
        total if done else None,
        passed,
        f"{steps}; the head is not restarted (it carries the zone's GCS and Serve controller)",
    )
