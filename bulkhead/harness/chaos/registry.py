"""Faults of the registry as serving sees it: stopped outright, or cut off by the network."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult, scenario_result, skipped, wait
from bulkhead.harness.chaos.models import champion_and_candidate, settled_on
from bulkhead.platform.balancer import admin_command, stat_rows
from bulkhead.platform.procs import stop_session


def registry_outage(ctx: ChaosContext, outage_s: float | None = None) -> ScenarioResult:
    # Long enough for every replica to poll the stopped registry several times (every 2 s).
    outage_s = outage_s or ctx.length(15.0, 8.0)
    platform = ctx.platform
    state = platform.load_state()
    if state.registry is None:
        raise RuntimeError("the registry is not running")
    ready_codes: list[int] = []
    with ctx.load() as load:
        time.sleep(ctx.length(3.0, 2.0))
        stop_session(state.registry.process)
        deadline = time.monotonic() + outage_s
        while time.monotonic() < deadline:
            ready_codes.append(ctx.ready_code())
            time.sleep(1)
        restarted = time.monotonic()
        platform.up()
        back = time.monotonic() - restarted
        time.sleep(ctx.length(3.0, 2.0))
    counts = load.counts()
    passed = counts.failed == 0 and all(code == 200 for code in ready_codes)
    return scenario_result(
        "registry outage",
        f"registry stopped for {outage_s:.0f} s, then restarted",
        "0 failed; readiness stays 200 for replicas holding a model",
        counts,
        back,
        passed,
        f"readiness during the outage: {sorted(set(ready_codes))}; registry back in {back:.1f} s",
    )


def registry_partition(ctx: ChaosContext, outage_s: float | None = None) -> ScenarioResult:
    """Cut the serve zone off the registry (its veth link down, `--isolate` only), promote
    another version meanwhile (the operator still reaches the registry), restore the link:
    nothing fails, readiness stays green, and the promotion made meanwhile is picked up."""
    outage_s = outage_s or ctx.length(12.0, 8.0)  # several 2-s polls fail either way
    from bulkhead.operations.models import registry_writer
    from bulkhead.platform.isolation import Node

    goal = "0 failed; readiness 200; the promotion made meanwhile served ≤ 10 s after return"
    layout = ctx.platform.load_state().isolation
    if layout is None:
        return skipped(
            "registry partition",
            "serve zone cut off the registry",
            goal,
            "needs `bulkhead up --isolate` (the link to cut is the serve zone's veth)",
        )
    writer = registry_writer(ctx.platform)
    champion, new = champion_and_candidate(writer)
    if champion is None or new is None:
        return skipped(
            "registry partition",
            "serve zone cut off the registry",
            goal,
            "needs a champion and a second gate-passed version",
        )

    ready_codes: list[int] = []
    with ctx.load() as load:
        time.sleep(3)
        layout.set_registry_link(Node.SERVE, up=False)
        try:
            writer.promote(new, reason="chaos: promotion during a registry partition")
            deadline = time.monotonic() + outage_s
            while time.monotonic() < deadline:
                ready_codes.append(ctx.ready_code())
                time.sleep(1)
            served_during = set(load.counts().versions)
        finally:
            layout.set_registry_link(Node.SERVE, up=True)
        restored_at = load.elapsed()
        picked = wait(lambda: settled_on(load, new, restored_at), 60)
        writer.rollback(reason="chaos: registry partition, back")
        time.sleep(2)
    counts = load.counts()
    on_new = None if picked is None else picked - 2.0
    passed = (
        counts.failed == 0
        and all(code == 200 for code in ready_codes)
        and served_during == {champion}
        and on_new is not None
        and on_new <= 10
    )
    return scenario_result(
        "registry partition",
        f"serve zone's registry link down {outage_s:.0f} s; v{new} promoted meanwhile",
        goal,
        counts,
        on_new,
        passed,
        f"served during the partition: {sorted(served_during)}; "
        f"readiness {sorted(set(ready_codes))}; v{new} on every answer "
        f"{on_new if on_new is None else round(on_new, 1)} s after the link returned",
    )


UNVERIFIED_GOAL = (
    "0 failed: a replica that starts without a verified model gets no traffic (its start is "
    "held while the registry cannot be reached; past the hold its ingress health check fails "
    "until it loads one), then joins once the registry is back"
)


def _replica_checks(ctx: ChaosContext, application: str) -> dict[str, str]:
    """Every node's ingress view of ``application``'s replicas: server name -> check status."""
    prefix = f"SERVE_REPLICA_{application}-"
    found: dict[str, str] = {}
    for sock in ctx.platform.paths.haproxy_dir.glob("*/admin.sock"):
        for row in stat_rows(admin_command(sock, "show stat") or ""):
            if row.get("svname", "").startswith(prefix):
                name = row["svname"]
                # DOWN on any node counts: the replica is out of that node's rotation.
                if found.get(name) != "DOWN":
                    found[name] = row.get("status", "")
    return found


def replica_without_model(
    ctx: ChaosContext, outage_s: float = 12.0, back_limit_s: float = 120.0
) -> ScenarioResult:
    """The registry stopped, a replica killed: Serve starts its replacement, which cannot
    fetch a model. Once it took its share of traffic and answered 503; now its start is held
    (serving/lifecycle.py: ``hold_until_loaded``) and, past the hold, the ingress's health
    check keeps it out of rotation (serving/ray_binds.py)."""
    scenario = "replica without a model"
    fault = "registry stopped, a replica killed: its replacement starts with no model"
    state = ctx.platform.load_state()
    before = ctx.replicas()
    if state.registry is None or len(before) < 2:
        why = "needs the registry and 2 replicas of the model (`up --serve-nodes 2`)"
        return skipped(scenario, fault, UNVERIFIED_GOAL, why)
    application = ctx.application
    known = set(_replica_checks(ctx, application))

    def fresh() -> dict[str, str]:
        return {k: v for k, v in _replica_checks(ctx, application).items() if k not in known}

    entered: dict[str, str] = {}  # replicas that entered an ingress's list during the outage
    with ctx.load() as load:
        time.sleep(ctx.length(3.0, 2.0))
        stop_session(state.registry.process)
        victim = before[-1]
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim.pid, signal.SIGKILL)
        replaced = wait(lambda: len(ctx.replicas()) >= len(before), 60, 0.5)
        deadline = time.monotonic() + outage_s
        while time.monotonic() < deadline:
            for name, status in fresh().items():
                if entered.get(name) != "DOWN":
                    entered[name] = status
            time.sleep(0.5)
        ctx.platform.up()
        back = wait(lambda: "UP" in fresh().values(), back_limit_s, 1.0)
        time.sleep(3)
    counts = load.counts()
    passed = counts.failed == 0 and back is not None
    if not entered:
        how = "its start was held while the registry was down: it entered no ingress's rotation"
    elif "DOWN" in entered.values():
        how = f"it entered rotation without a model, its ingress check DOWN ({entered})"
    else:
        how = f"it entered rotation without a model and was never checked DOWN ({entered})"
    return scenario_result(
        scenario,
        f"{fault} (SIGKILL pid {victim.pid} of {len(before)}; registry down {outage_s:.0f} s)",
        UNVERIFIED_GOAL,
        counts,
        back,
        passed,
        f"replacement process started {'' if replaced is not None else 'not '}within 60 s; "
        f"{how}; UP {'never' if back is None else f'{back:.0f} s'} after the registry came back",
    )
