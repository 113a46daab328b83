"""Many models in one serve zone, each scenario under load on the model under test (the
default one, or `chaos --model M`):

- model-added: another model's application removed, added back and loading its champion;
- model-onboarded: a configured model the serve zone does not serve yet gets an application
  (a config change and a deploy), its version is promoted and answered, and the application is
  removed again, under load on every model already served;
- model-scaling: a load step on another model scales that model's deployment, while the
  model under test keeps its replicas and its latency.

The other model's replicas start, download, verify, self-check and warm a model on the same
two cores, so some cost to the loaded model's tail is physics here (a production serve zone
schedules the new replica where there is room); what must hold on any machine: no failed
request and the loaded model's replicas left running, untouched.
"""

from __future__ import annotations

import copy
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import yaml

from bulkhead.harness.chaos.base import (
    ChaosContext,
    ScenarioResult,
    scenario_result,
    skipped,
    wait,
)
from bulkhead.harness.chaos.delivery import CLIENTS, PER_CLIENT_RPS, percentiles
from bulkhead.platform.core import Platform
from bulkhead.render.serve_config import deployed_config
from contracts.serve_api import MODEL_VERSION_HEADER
from loadtests.closed_loop import ClosedLoopLoad, LoadCounts
from serving.client import ServeClient

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
        # --quick ends with the step: the way back down is Serve's 30-s downscale delay, a
        # figure this scenario reports but does not judge.
        back_in = (
            None
            if ctx.quick
            else wait(lambda: len(ctx.replicas(other["name"])) <= start_count, settle_s, 1.0)
        )
    counts, step_counts = load.counts(), step.counts()
    ok = [o for o in load.outcomes if o.status == 200]
    p50_quiet, p99_quiet = percentiles([o.latency_ms for o in ok if o.t < quiet_until])
    p50_step, p99_step = percentiles([o.latency_ms for o in ok if step_started <= o.t < step_ended])
    untouched = bool(kept) and kept == _replica_pids(ctx, under_test["name"])
    passed = scaled_at is not None and untouched and counts.failed == 0 and step_counts.failed == 0
    scaled = f"{start_count} -> {peak} replicas after {scaled_at:.1f} s" if scaled_at else "no"
    if ctx.quick:
        down = "way back down not awaited (--quick)"
    elif back_in:
        down = f"back to {start_count} {back_in:.0f} s after the step"
    else:
        down = "not back yet"
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


ONBOARDED_GOAL = (
    "0 failed on every model already served; their replicas untouched; the new model answers "
    "with its promoted version; after removal its routes are gone (404)"
)


def _new_model(platform: Platform, served: set[str]) -> str | None:
    """The first configured model (BULKHEAD_MODELS) that the deployed config does not serve."""
    return next((name for name in platform.settings.models if name not in served), None)


def _application_for(template: dict[str, Any], model: str) -> dict[str, Any]:
    """A served model's application block, copied for ``model``: what a user writes in
    serve_config.yaml to add one (name, route prefix and model name change; limits,
    autoscaling and resources are the template's)."""
    application = copy.deepcopy(template)
    application["name"] = model
    application["route_prefix"] = f"/v1/models/{model}"
    for deployment in application["deployments"]:
        deployment.setdefault("user_config", {})["model_name"] = model
    return application


def _combined(by_model: dict[str, LoadCounts]) -> LoadCounts:
    """One load's counts from one per model (a scenario's table has one row); versions are
    keyed ``model:version``."""
    counts = list(by_model.values())
    status_codes: dict[str, int] = {}
    for c in counts:
        for code, n in c.status_codes.items():
            status_codes[code] = status_codes.get(code, 0) + n
    versions = {f"{m}:{v}": n for m, c in by_model.items() for v, n in c.versions.items()}

    p99s = [c.p99_ok_ms for c in counts if c.p99_ok_ms is not None]
    return LoadCounts(
        requests=sum(c.requests for c in counts),
        ok=sum(c.ok for c in counts),
        http_errors=sum(c.http_errors for c in counts),
        connection_errors=sum(c.connection_errors for c in counts),
        status_codes=status_codes,
        versions=versions,
        longest_gap_s=max((c.longest_gap_s for c in counts), default=0.0),
        p99_ok_ms=max(p99s) if p99s else None,
        rejected_with_retry_after=sum(c.rejected_with_retry_after for c in counts),
    )


def _promotable(platform: Platform) -> tuple[str | None, str | None]:
    """(champion, newest version that passed its gate and is signed) of ``platform``'s model."""
    from bulkhead.operations.models import versions

    rows = versions(platform)
    champion = next((r.version for r in rows if "champion" in r.aliases), None)
    passed = [r.version for r in rows if r.gate == "passed" and r.signature.startswith("signed")]
    return champion, (passed[-1] if passed else None)


def _answers(platform: Platform, model: str, version: str, limit_s: float) -> float | None:
    """Seconds until ``model``'s own route answers a prediction from ``version``."""

    def answered() -> bool:
        try:
            with ServeClient(platform.serve_endpoint(), timeout_s=5, model=model) as client:
                answer = client.predict_response(["a plain sentence to classify"])
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.headers.get(MODEL_VERSION_HEADER) == version

    return wait(answered, limit_s, 0.5)


def _route_gone(platform: Platform, model: str) -> bool:
    with ServeClient(platform.serve_endpoint(), timeout_s=5, model=model) as client:
        return client.predict_response(["gone?"]).status_code == 404


def model_onboarded(
    ctx: ChaosContext,
    window_s: float = 8.0,
    clients: int = CLIENTS,
    per_client_rps: float = PER_CLIENT_RPS / 2,
    answer_limit_s: float = 60.0,
) -> ScenarioResult:
    """Adding a model is a config change and a deploy: Serve starts the new application
    and leaves the others' replicas running; the loads count every request on them."""
    from bulkhead.operations.deploy import deploy
    from bulkhead.operations.models import promote

    fault = "a new model's application added (deploy), its version promoted, then removed"
    data = yaml.safe_load(deployed_config(ctx.platform).read_text())
    dedicated = [a for a in data.get("applications", []) if _model_of(a)]
    served = {str(_model_of(a)) for a in dedicated}
    new = _new_model(ctx.platform, served)
    if new is None or not dedicated:
        why = (
            "every configured model is served already: name another in BULKHEAD_MODELS, then "
            "`bulkhead up`, `bulkhead ingest --model M`, `bulkhead train --model M`"
        )
        return skipped("model onboarded", fault, ONBOARDED_GOAL, why)
    platform = ctx.platform.acting_on(new)
    champion, candidate = _promotable(platform)
    if champion is None and candidate is None:
        why = f"no version of {new} passed its gate: `bulkhead train --model {new}` first"
        return skipped("model onboarded", fault, ONBOARDED_GOAL, why)
    home = ctx.platform.paths.home
    added_config = home / "serve_config.chaos-onboarded.yaml"
    added_config.write_text(
        yaml.safe_dump(
            {**data, "applications": [*data["applications"], _application_for(dedicated[-1], new)]},
            sort_keys=False,
        )
    )
    original = home / "serve_config.chaos-whole.yaml"
    original.write_text(yaml.safe_dump(data, sort_keys=False))
    before = {a["name"]: _replica_pids(ctx, a["name"]) for a in dedicated}
    loads: dict[str, ClosedLoopLoad] = {}
    timeline: dict[str, float] = {}
    with ExitStack() as stack:
        for application in dedicated:
            model = str(_model_of(application))
            loads[model] = stack.enter_context(
                ctx.load(clients=clients, per_client_rps=per_client_rps, model=model)
            )
        clock = next(iter(loads.values()))
        time.sleep(window_s)
        timeline["deploy"] = clock.elapsed()
        added = deploy(ctx.platform, added_config)
        timeline["deployed"] = clock.elapsed()
        version = champion
        if champion is None and candidate is not None:
            promote(platform, candidate, reason="chaos model-onboarded", force=False)
            version = candidate
        timeline["promoted"] = clock.elapsed()
        answered_s = _answers(ctx.platform, new, str(version), answer_limit_s)
        timeline["answered"] = clock.elapsed()
        removed = deploy(ctx.platform, original)
        timeline["removed"] = clock.elapsed()
        time.sleep(window_s)
    gone = _route_gone(ctx.platform, new)
    after = {a["name"]: _replica_pids(ctx, a["name"]) for a in dedicated}
    untouched = all(before[name] and before[name] == after[name] for name in before)
    per_model = []
    for model, load in loads.items():
        counts = load.counts()
        ok = [o for o in load.outcomes if o.status == 200]
        quiet = [o.latency_ms for o in ok if o.t < timeline["deploy"] or o.t >= timeline["removed"]]
        change = [o.latency_ms for o in ok if timeline["deploy"] <= o.t < timeline["removed"]]
        p50_q, p99_q = percentiles(quiet)
        p50_c, p99_c = percentiles(change)
        per_model.append(
            f"{model}: {counts.requests} requests, {counts.failed} failed, p50/p99 "
            f"{p50_q:.1f}/{p99_q:.1f} ms around, {p50_c:.1f}/{p99_c:.1f} ms during"
        )
    total = _combined({model: load.counts() for model, load in loads.items()})
    how = f"v{version} promoted" if champion is None else f"v{version} (champion already)"
    answered = (
        f"answered v{version} {answered_s:.1f} s after the promotion"
        if answered_s is not None
        else f"v{version} not answered within {answer_limit_s:.0f} s"
    )
    replicas = "untouched" if untouched else f"changed {before} -> {after}"
    passed = total.failed == 0 and untouched and answered_s is not None and gone
    return scenario_result(
        "model onboarded",
        f"{new} added ({added.seconds:.0f} s), {how}, removed ({removed.seconds:.0f} s) under "
        f"{clients} clients at {clients * per_client_rps:.0f} requests/s on each of "
        f"{', '.join(loads)}",
        ONBOARDED_GOAL,
        total,
        answered_s,
        passed,
        f"{new}: {answered}; route after removal: {'404' if gone else 'still answering'}; "
        f"replicas of {', '.join(before)} {replicas}; " + "; ".join(per_model),
    )
