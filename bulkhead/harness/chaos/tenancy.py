"""Many models in one serve zone: another model's application removed, added back and
loading its champion, while the default model serves a paced load.

The other model's replicas start, download, verify, self-check and warm a model on the same
two cores, so some cost to the default model's tail is physics here (a production serve zone
schedules the new replica where there is room); what must hold on any machine: no failed
request and the default model's replicas left running, untouched.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from bulkhead.harness.chaos.base import (
    ChaosContext,
    ScenarioResult,
    process_title,
    scenario_result,
    skipped,
)
from bulkhead.harness.chaos.delivery import CLIENTS, PER_CLIENT_RPS, percentiles
from bulkhead.render.serve_config import deployed_config

GOAL = (
    "0 failed on the default model; its replicas untouched; p99 while the other model "
    "comes and goes ≤ 2x + 10 ms of the windows around it"
)


def _applications(config: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """(the whole config, the default model's application, another model's), if any."""
    data = yaml.safe_load(config.read_text())
    apps = data.get("applications", [])
    default = next((a for a in apps if a.get("route_prefix", "/") == "/"), None)
    other = next((a for a in apps if a.get("route_prefix", "/") != "/"), None)
    if default is None or other is None:
        return None
    return data, default, other


def _replica_pids(ctx: ChaosContext, application: str) -> set[int]:
    marker = f"ServeReplica:{application}:"
    return {p.pid for p in ctx.replicas() if marker in process_title(p)}


def model_added(
    ctx: ChaosContext,
    window_s: float = 10.0,
    clients: int = CLIENTS,
    per_client_rps: float = PER_CLIENT_RPS,
) -> ScenarioResult:
    from bulkhead.operations.deploy import deploy

    fault = "another model's application removed, then added back (loads its champion)"
    found = _applications(deployed_config(ctx.platform))
    if found is None:
        return skipped("model added", fault, GOAL, "the deployed config serves one model")
    data, default, other = found
    other_model = other["deployments"][0]["user_config"]["model_name"]
    home = ctx.platform.paths.home
    without = home / "serve_config.chaos-without.yaml"
    without.write_text(
        yaml.safe_dump({**data, "applications": [a for a in data["applications"] if a != other]})
    )
    whole = home / "serve_config.chaos-whole.yaml"
    whole.write_text(yaml.safe_dump(data, sort_keys=False))
    before = _replica_pids(ctx, default["name"])
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
    after = _replica_pids(ctx, default["name"])
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
        f"{clients * per_client_rps:.0f} requests/s on {default['name']}",
        GOAL,
        counts,
        None,
        passed,
        f"{default['name']}: p50/p99 {p50_around:.1f}/{p99_around:.1f} ms around, "
        f"{p50_remove:.1f}/{p99_remove:.1f} ms while {other_model} is removed, "
        f"{p50_add:.1f}/{p99_add:.1f} ms while it starts and loads; replicas "
        f"{'untouched' if untouched else f'changed {sorted(before)} -> {sorted(after)}'}; "
        f"{other_model} after: {state} (removed in {removed.seconds:.0f} s, back in "
        f"{added.seconds:.0f} s)",
    )
