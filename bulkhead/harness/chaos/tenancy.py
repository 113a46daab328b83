"""Many models in one serve zone, each scenario under load on the model under test (the
default one, or `chaos --model M`):

- model-added: another model's application removed, added back and loading its champion;
- model-scaling: a load step on another model scales that model's deployment, while the
  model under test keeps its replicas and its latency.

The other model's replicas start, download, verify, self-check and warm a model on the same
two cores, so some cost to the loaded model's tail is physics here (a production serve zone
schedules the new replica where there is room); what must hold on any machine: no failed
request and the loaded model's replicas left running, untouched.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from bulkhead.harness.chaos.base import (
    ChaosContext,
    ScenarioResult,
    scenario_result,
    skipped,
    wait,
)
from bulkhead.harness.chaos.delivery import CLIENTS, PER_CLIENT_RPS, percentiles
from bulkhead.render.serve_config import deployed_config

GOAL = (
    "0 failed on the model under load; its replicas untouched; p99 while the other model "
    "comes and goes ≤ 2x + 10 ms of the windows around it"
)


def _applications(
    config: Path, loaded: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """(the whole config, the application under load, another model's), if any."""
    data = yaml.safe_load(config.read_text())
    apps = [a for a in data.get("applications", []) if _model_of(a)]
    under_load = next((a for a in apps if a.get("name") == loaded), None)
    other = next((a for a in apps if a.get("name") != loaded), None)
    if under_load is None or other is None:
        return None
    return data, under_load, other


def _model_of(application: dict[str, Any]) -> str | None:
    """The model an application serves (a model family's names none)."""
    deployments = application.get("deployments") or [{}]
    return (deployments[0].get("user_config") or {}).get("model_name")


def _replica_pids(ctx: ChaosContext, application: str) -> set[int]:
    return {p.pid for p in ctx.replicas(application)}


def model_added(
    ctx: ChaosContext,
    window_s: float = 10.0,
    clients: int = CLIENTS,
    per_client_rps: float = PER_CLIENT_RPS,
) -> ScenarioResult:
    from bulkhead.operations.deploy import deploy

    fault = "another model's application removed, then added back (loads its champion)"
    found = _applications(deployed_config(ctx.platform), ctx.application)
    if found is None:
        return skipped("model added", fault, GOAL, "the deployed config serves one model")
    data, loaded, other = found
    other_model = other["deployments"][0]["user_config"]["model_name"]
    home = ctx.platform.paths.home
    without = home / "serve_config.chaos-without.yaml"
    without.write_text(
        yaml.safe_dump({**data, "applications": [a for a in data["applications"] if a != other]})
    )
    whole = home / "serve_config.chaos-whole.yaml"
    whole.write_text(yaml.safe_dump(data, sort_keys=False))
    before = _replica_pids(ctx, loaded["name"])
    windows: dict[str, list[tuple[float, float]]] = {"around": [], "remove": [], "add": []}
    with ctx.load(clients=clients, per_client_rps=per_client_rps) as load:
        time.sleep(3)
        start = load.elapsed()
        time.sleep(window_s)
        windows["around"].append((start, load.elapsed()))
        start = load.elapsed()
        removed = deploy(ctx.platform, without)
        windows["remove"].append((start, load.elapsed()))
        start = load.elapsed()
        added = deploy(ctx.platform, whole)
        windows["add"].append((start, load.elapsed()))
        start = load.elapsed()
        time.sleep(window_s)
        windows["around"].append((start, load.elapsed()))
    counts = load.counts()
    after = _replica_pids(ctx, loaded["name"])
    ok = [o for o in load.outcomes if o.status == 200]

    def latencies(name: str) -> list[float]:
        return [o.latency_ms for o in ok if any(a <= o.t < b for a, b in windows[name])]

    p50_around, p99_around = percentiles(latencies("around"))
    p50_remove, p99_remove = percentiles(latencies("remove"))
    p50_add, p99_add = percentiles(latencies("add"))
    p99_change = max(p99_remove, p99_add)
    served = next((m for m in added.models if m.name == other_model), None)
    state = f"{served.state} v{served.version or '—'}" if served else "not in the deploy"
    change_s = windows["add"][0][1] - windows["remove"][0][0]
    untouched = bool(before) and before == after
    passed = counts.failed == 0 and untouched and p99_change <= 2 * p99_around + 10
    return scenario_result(
        "model added",
        f"{other['name']} removed and added back ({change_s:.0f} s) under {clients} clients at "
        f"{clients * per_client_rps:.0f} requests/s on {loaded['name']}",
        GOAL,
        counts,
        None,
        passed,
        f"{loaded['name']}: p50/p99 {p50_around:.1f}/{p99_around:.1f} ms around, "
        f"{p50_remove:.1f}/{p99_remove:.1f} ms while {other_model} is removed, "
        f"{p50_add:.1f}/{p99_add:.1f} ms while it starts and loads; replicas "
        f"{'untouched' if untouched else f'changed {sorted(before)} -> {sorted(after)}'}; "
        f"{other_model} after: {state} (removed in {removed.seconds:.0f} s, back in "
        f"{added.seconds:.0f} s)",
    )


SCALING_GOAL = (
    "a load step on another model scales its deployment up within the step (and back down "
    "after it); the model under test keeps its replicas; 0 failed on either"
)


def model_scaling(
    ctx: ChaosContext,
    step_s: float = 25.0,
    step_clients: int = 16,
    settle_s: float = 75.0,
    clients: int = CLIENTS,
    per_client_rps: float = PER_CLIENT_RPS,
) -> ScenarioResult:
    """Per-model autoscaling: each application's autoscaler reads only its own replicas'
    load, so a step on one model adds replicas to that model alone."""
    fault = f"a step of {step_clients} unpaced clients on another model for {step_s:.0f} s"
    found = _applications(deployed_config(ctx.platform), ctx.application)
    if found is None:
        return skipped("model scaling", fault, SCALING_GOAL, "the deployed config serves one model")
    _, under_test, other = found
    other_model = other["deployments"][0]["user_config"]["model_name"]
    autoscaling = other["deployments"][0].get("autoscaling_config") or {}
    if int(autoscaling.get("max_replicas", 1)) < 2:
        why = f"{other['name']} cannot scale (max_replicas {autoscaling.get('max_replicas', 1)})"
        return skipped("model scaling", fault, SCALING_GOAL, why)
    # Start from the other model's floor (an earlier load may have left it scaled up).
    floor = int(autoscaling.get("min_replicas", 1))
    wait(lambda: len(ctx.replicas(other["name"])) <= floor, settle_s, 1.0)
    kept = _replica_pids(ctx, under_test["name"])
    start_count = len(ctx.replicas(other["name"]))
    peak, scaled_at = start_count, None
    with ctx.load(clients=clients, per_client_rps=per_client_rps) as load:
        time.sleep(3)
        quiet_until = load.elapsed()
        with ctx.load(clients=step_clients, model=other_model) as step:
            step_started = load.elapsed()
            while load.elapsed() - step_started < step_s:
                count = len(ctx.replicas(other["name"]))
                if count > start_count and scaled_at is None:
                    scaled_at = load.elapsed() - step_started
                peak = max(peak, count)
                time.sleep(0.5)
            step_ended = load.elapsed()
        back_in = wait(lambda: len(ctx.replicas(other["name"])) <= start_count, settle_s, 1.0)
    counts, step_counts = load.counts(), step.counts()
    ok = [o for o in load.outcomes if o.status == 200]
    p50_quiet, p99_quiet = percentiles([o.latency_ms for o in ok if o.t < quiet_until])
    p50_step, p99_step = percentiles([o.latency_ms for o in ok if step_started <= o.t < step_ended])
    untouched = bool(kept) and kept == _replica_pids(ctx, under_test["name"])
    passed = scaled_at is not None and untouched and counts.failed == 0 and step_counts.failed == 0
    scaled = f"{start_count} -> {peak} replicas after {scaled_at:.1f} s" if scaled_at else "no"
    down = f"back to {start_count} {back_in:.0f} s after the step" if back_in else "not back yet"
    return scenario_result(
        "model scaling",
        f"{fault} ({other_model}: {step_counts.requests} requests, {step_counts.failed} failed) "
        f"while {under_test['name']} serves {clients * per_client_rps:.0f} requests/s",
        SCALING_GOAL,
        counts,
        scaled_at,
        passed,
        f"{other_model}: scaled {scaled}, {down}; {under_test['name']}: replicas "
        f"{'untouched' if untouched else 'changed'}, p50/p99 {p50_quiet:.1f}/{p99_quiet:.1f} ms "
        f"before the step, {p50_step:.1f}/{p99_step:.1f} ms during it (2 shared cores)",
    )
