"""Faults of model delivery: a rollout and rollback under load, a bad artefact aliased champion."""

from __future__ import annotations

import time
from typing import Any

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult, scenario_result, skipped, wait
from bulkhead.harness.chaos.candidates import CHAOS_TAG, register_variant
from contracts.tags import CHAMPION
from loadtests.closed_loop import ClosedLoopLoad


def settled_on(load: ClosedLoopLoad, version: str, since: float, window_s: float = 2.0) -> bool:
    """Every answer of the last ``window_s`` seconds (after ``since``) came from ``version``."""
    now = load.elapsed()
    recent = [
        o for o in list(load.outcomes) if o.t >= max(since, now - window_s) and o.status == 200
    ]
    return now - since >= window_s and bool(recent) and all(o.version == version for o in recent)


def champion_and_candidate(writer: Any) -> tuple[str | None, str | None]:
    """The champion, and the newest other gate-passed, signed version to roll out in its
    place (never one a chaos scenario made to be wrong; never one no replica would load)."""
    champion: str | None = writer.alias_version(CHAMPION)
    candidates = [
        row.version
        for row in writer.versions()
        if row.gate == "passed"
        and row.signature.startswith("signed")
        and row.version != champion
        and CHAOS_TAG not in writer.tags(row.version)
    ]
    return champion, max(candidates, key=int) if candidates else None


def rollout(ctx: ChaosContext) -> ScenarioResult:
    """Promote another approved version under load, then roll back: nothing may fail."""
    from bulkhead.operations.models import registry_writer

    goal = "0 failed; every answer on the new version within 10 s; every answer names a version"
    writer = registry_writer(ctx.platform)
    champion, new = champion_and_candidate(writer)
    if champion is None or new is None:
        return skipped(
            "rollout",
            "promote + rollback under load",
            goal,
            "needs a champion and a second gate-passed version (run `bulkhead train`)",
        )
    with ctx.load() as load:
        time.sleep(3)
        promoted_at = load.elapsed()
        writer.promote(new, reason="chaos: rollout under load")
        to_new = wait(lambda: settled_on(load, new, promoted_at), 60)
        rolled_at = load.elapsed()
        writer.rollback(reason="chaos: rollout under load, back")
        to_old = wait(lambda: settled_on(load, champion, rolled_at), 60)
        time.sleep(2)
    counts = load.counts()
    unnamed = counts.ok - sum(counts.versions.values())
    on_new = None if to_new is None else to_new - 2.0  # the settle window is part of the wait
    on_old = None if to_old is None else to_old - 2.0
    passed = (
        counts.failed == 0
        and unnamed == 0
        and on_new is not None
        and on_new <= 10
        and on_old is not None
        and on_old <= 10
    )
    return scenario_result(
        "rollout",
        f"promote v{new} over v{champion} under load, then roll back",
        goal,
        counts,
        on_new,
        passed,
        f"all answers on v{new} {on_new if on_new is None else round(on_new, 1)} s after the "
        f"promotion, back on v{champion} {on_old if on_old is None else round(on_old, 1)} s after "
        f"the rollback; versions seen {counts.versions}; {unnamed} answers without a version",
    )


def bad_artifact(ctx: ChaosContext) -> ScenarioResult:
    """Alias `champion` to an approved version whose model file is not ONNX (its digest is
    right): serving must refuse it, keep answering with the old model and say why."""
    from bulkhead.operations.models import registry_writer

    goal = "0 failed; old version keeps answering; refusal shown by /v1/status"
    writer = registry_writer(ctx.platform)
    champion = writer.alias_version(CHAMPION)
    if champion is None:
        return skipped("bad artifact", "non-ONNX model aliased champion", goal, "no champion")
    broken = register_variant(
        ctx.platform.paths, writer, champion, ctx.platform.settings.experiment_name, "not-onnx"
    )
    with ctx.load() as load:
        time.sleep(3)
        writer.promote(broken, reason="chaos: bad artifact")

        def refused() -> bool:
            with ctx.client(timeout_s=5) as client:
                return broken in client.status().refused

        seen = wait(refused, 30, every_s=0.5)
        time.sleep(3)
        writer.rollback(reason="chaos: bad artifact, back")
    counts = load.counts()
    with ctx.client(timeout_s=5) as client:
        status = client.status()
    passed = counts.failed == 0 and seen is not None and set(counts.versions) == {champion}
    return scenario_result(
        "bad artifact",
        f"v{broken}: approved, digest right, model.onnx not ONNX, aliased champion",
        goal,
        counts,
        seen,
        passed,
        f"refused: {status.refused.get(broken, 'not refused')[:90]}; "
        f"versions answering: {counts.versions}",
    )
