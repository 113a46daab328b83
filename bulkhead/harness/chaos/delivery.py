"""Progressive delivery under load: a good candidate promoted, three bad ones aborted by the
controller on its own, and what shadow copies cost a real request.

Each scenario registers its candidate from the champion's bundle (chaos/candidates.py), starts
a rollout as an operator would, runs the same controller `bulkhead rollout watch` runs, and
counts every client request: failures, and answers from the candidate.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult, scenario_result, skipped, wait
from bulkhead.harness.chaos.candidates import Variant, register_variant
from bulkhead.harness.chaos.models import settled_on
from contracts.rollout import RolloutPolicy, RolloutState
from contracts.tags import CHAMPION

if TYPE_CHECKING:
    from registry.rollouts import RolloutStore

# Short phases for a test run; the defaults (bulkhead rollout start) are for production.
QUICK = RolloutPolicy(
    shadow_for_s=10,
    steps=[25, 100],
    step_for_s=10,
    min_requests=100,
    min_agreement=0.9,
    max_p99_ratio=1.5,
    max_error_rate=0.01,
)
# Closed-loop clients with think time: 4 x 12 requests/s. A closed loop without think time on
# the server's own two cores (the load generator included) leaves the replica no idle moment,
# and shadow copies run only in idle moments: agreement would never be measured.
# `--quick`: phases of 5 s; each still needs its 100 samples of every kind (the 25 % step's
# 100 candidate calls take ~8 s at this load), so the controller decides on the same evidence.
QUICK_PHASE_S = 5.0
CLIENTS = 4
PER_CLIENT_RPS = 12.0
REPORTS = Path("reports") / "chaos-rollouts"


@dataclass(frozen=True)
class Case:
    name: str
    variant: Variant
    policy: RolloutPolicy
    expect: str  # the phase the controller must end in
    goal: str


CASES = {
    "good": Case(
        "rollout good",
        "copy",
        QUICK,
        "completed",
        "shadow → 25% → 100% → champion; 0 failed; every answer names a version",
    ),
    "slow": Case(
        "rollout slow",
        "slow",
        QUICK,
        "aborted",
        "aborted on p99 by the controller; 0 failed",
    ),
    "erroring": Case(
        "rollout erroring",
        "erroring",
        QUICK.model_copy(update={"shadow_for_s": 0.0}),
        "aborted",
        "straight to a 25% canary, aborted on errors; 0 failed client requests",
    ),
    "disagreeing": Case(
        "rollout disagreeing",
        "flipped",
        QUICK.model_copy(update={"shadow_for_s": 0.0, "steps": [10, 50, 100]}),
        "aborted",
        "straight to a 10% canary, aborted on agreement; 0 failed; its answers ≤ the canary "
        "share until the abort",
    ),
}


def _echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_case(ctx: ChaosContext, key: str, max_s: float = 240.0) -> ScenarioResult:
    from bulkhead.operations.rollout import store

    case = CASES[key]
    rollouts = store(ctx.platform)
    writer = rollouts.writer
    champion = writer.alias_version(CHAMPION)
    if champion is None:
        return skipped(case.name, f"{case.variant} candidate", case.goal, "no champion")
    leftover = rollouts.current()
    if leftover is not None and leftover.active:
        rollouts.record(rollouts.abort(leftover, "chaos: clearing"), "abort", "chaos: clearing")
    candidate = register_variant(
        ctx.platform.paths,
        writer,
        champion,
        ctx.platform.settings.experiment_name,
        case.variant,
        texts=ctx.texts,
    )
    with ctx.load(clients=CLIENTS, per_client_rps=PER_CLIENT_RPS) as load:
        time.sleep(2)
        state = rollouts.start(candidate, quicker(ctx, case.policy), reason=f"chaos: {case.name}")
        started_at = load.elapsed()
        final, plot = drive_rollout(ctx, rollouts, state, f"{key}-{state.id}", max_s)
        decided_at = load.elapsed()
        if final is None or final.active:
            rollouts.abort(state, "chaos: the controller did not decide in time")
        target = candidate if final is not None and final.phase == "completed" else champion
        settled = wait(lambda: settled_on(load, target, decided_at), 30)
        time.sleep(1)
    counts = load.counts()
    before_decision = [o for o in load.outcomes if o.t < decided_at and o.status == 200]
    from_candidate = sum(1 for o in before_decision if o.version == candidate)
    share = from_candidate / max(len(before_decision), 1)
    decisions = len(rollouts.events(state.id)) - 1  # the start is the operator's
    phase = final.phase if final is not None else "none"
    if phase == "completed":
        writer.rollback(reason=f"chaos: {case.name}, back to v{champion}")
    unnamed = counts.ok - sum(counts.versions.values())
    passed = counts.failed == 0 and unnamed == 0 and phase == case.expect and settled is not None
    if key == "disagreeing":  # its wrong answers stayed within the first step's share
        passed = passed and share <= case.policy.steps[0] / 100 + 0.03
    return scenario_result(
        case.name,
        f"v{candidate} ({case.variant} of v{champion}) rolled out under {CLIENTS} clients at "
        f"{CLIENTS * PER_CLIENT_RPS:.0f} requests/s",
        case.goal,
        counts,
        decided_at - started_at,
        passed,
        f"{phase}: {final.reason if final else 'no decision'}; {from_candidate} of "
        f"{len(before_decision)} answers ({share:.1%}) from v{candidate} before the decision, "
        f"all answers on v{target} {_seconds(settled)} after it; {decisions} controller "
        f"decisions; plot {plot}",
    )


def quicker(ctx: ChaosContext, policy: RolloutPolicy) -> RolloutPolicy:
    """``policy`` with phases of ``QUICK_PHASE_S`` under `--quick`; its sample minimums and
    limits unchanged."""
    if not ctx.quick:
        return policy
    return policy.model_copy(
        update={
            "shadow_for_s": min(policy.shadow_for_s, QUICK_PHASE_S),
            "step_for_s": min(policy.step_for_s, QUICK_PHASE_S),
        }
    )


def drive_rollout(
    ctx: ChaosContext, rollouts: RolloutStore, state: RolloutState, name: str, max_s: float
) -> tuple[RolloutState | None, Path | None]:
    """Let the platform's own controller (the one `up` keeps) decide, as it would for a user;
    without one, run the same controller here. Returns the final state and its plot."""
    from bulkhead.delivery.controller import RolloutController
    from bulkhead.delivery.plot import plot_rollout
    from bulkhead.operations.rollout import controller_running, metrics_urls

    if controller_running(ctx.platform):
        deadline = time.monotonic() + max_s
        final = rollouts.current()
        while final is not None and final.id == state.id and final.active:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
            final = rollouts.current()
        plot = ctx.platform.paths.home / "reports" / f"rollout-{state.id}" / "rollout.png"
        wait(plot.exists, 15)
        return final, plot if plot.exists() else None
    controller = RolloutController(rollouts, metrics_urls(ctx.platform), echo=_echo)
    report = controller.run(max_s=max_s)
    REPORTS.mkdir(parents=True, exist_ok=True)
    return report.state, plot_rollout(report, REPORTS / f"{name}.png")


def _seconds(settled: float | None) -> str:
    # The settle window (2 s of answers all from one version) is part of the wait.
    return "never" if settled is None else f"{max(settled - 2.0, 0.0):.1f} s"


def rollout_good(ctx: ChaosContext) -> ScenarioResult:
    return run_case(ctx, "good")


def rollout_slow(ctx: ChaosContext) -> ScenarioResult:
    return run_case(ctx, "slow")


def rollout_erroring(ctx: ChaosContext) -> ScenarioResult:
    return run_case(ctx, "erroring")


def rollout_disagreeing(ctx: ChaosContext) -> ScenarioResult:
    return run_case(ctx, "disagreeing")


def percentiles(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(latencies, [50, 99])
    return float(p50), float(p99)


def shadow_cost(
    ctx: ChaosContext,
    window_s: float = 8.0,
    rounds: int | None = None,
    clients: int = CLIENTS,
    per_client_rps: float = PER_CLIENT_RPS,
) -> ScenarioResult:
    """The same paced load in alternating windows without and with a shadow copy of every
    request (a copy of the champion as candidate): p50 and p99 side by side. Alternating
    windows cancel slow drift; paced, not closed-loop: a closed loop on the server's own two
    cores keeps them saturated (load generator included), where any extra work shows; a paced
    load leaves idle time, as production does, which is what shadow copies are meant to use."""
    from bulkhead.delivery.figures import Window, scrape
    from bulkhead.operations.rollout import metrics_urls, store

    goal = "shadow copies run; with shadow p50 ≤ 1.1x + 0.5 ms, p99 ≤ 1.25x + 2 ms; 0 failed"
    # Three rounds steady the p99 figure; one (--quick) still shows copies made and dropped.
    rounds = rounds or (1 if ctx.quick else 3)
    rollouts = store(ctx.platform)
    writer = rollouts.writer
    champion = writer.alias_version(CHAMPION)
    if champion is None:
        return skipped("shadow cost", "shadow copies under load", goal, "no champion")
    candidate = register_variant(
        ctx.platform.paths, writer, champion, ctx.platform.settings.experiment_name, "copy"
    )
    urls = metrics_urls(ctx.platform)
    # Measured, never judged: limits no controller could act on while the windows run.
    shadow_only = RolloutPolicy(
        shadow_for_s=86_400, max_p99_ratio=100, max_error_rate=1, min_agreement=0
    )
    windows: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with ctx.load(clients=clients, per_client_rps=per_client_rps) as load:
        time.sleep(3)
        # The candidate's counters only grow while a shadow window runs: one scrape before the
        # first and one after the last count every window's copies.
        before = scrape(urls, writer.model_name)
        for _ in range(rounds):
            start = load.elapsed()
            time.sleep(window_s)
            windows[False].append((start, load.elapsed()))
            state = rollouts.start(candidate, shadow_only, reason="chaos: shadow cost")
            wait(lambda: _holding(ctx), 60, every_s=0.5)
            time.sleep(3)  # every replica polled since
            start = load.elapsed()
            time.sleep(window_s)
            windows[True].append((start, load.elapsed()))
            rollouts.record(rollouts.abort(state, "chaos: measured"), "abort", "measured")
            wait(lambda: not _holding(ctx), 30, every_s=0.5)
    # The replicas' metrics exported since the last window ended: it is counted whole.
    time.sleep(ctx.platform.settings.serve.metrics_settle_s)
    window = Window(before, scrape(urls, writer.model_name))
    mirrored = window.figures(candidate, "shadow").mirrored
    dropped = window.shadow_dropped(candidate)
    counts = load.counts()
    ok = [o for o in load.outcomes if o.status == 200]

    def latencies(shadow: bool) -> list[float]:
        return [o.latency_ms for o in ok if any(a <= o.t < b for a, b in windows[shadow])]

    p50_off, p99_off = percentiles(latencies(False))
    p50_on, p99_on = percentiles(latencies(True))
    passed = (
        counts.failed == 0
        and mirrored > 0
        and p50_on <= 1.1 * p50_off + 0.5
        and p99_on <= 1.25 * p99_off + 2.0
    )
    result = scenario_result(
        "shadow cost",
        f"every request mirrored to v{candidate} (a copy of v{champion}) in {rounds} windows of "
        f"{window_s:.0f} s, alternating with none, at {clients * per_client_rps:.0f} requests/s",
        goal,
        counts,
        None,
        passed,
        f"without shadow p50 {p50_off:.2f} ms p99 {p99_off:.2f} ms; with p50 {p50_on:.2f} ms "
        f"p99 {p99_on:.2f} ms; {mirrored} texts mirrored, {dropped} copies dropped as the "
        f"replica was busy",
    )
    result.figures = {
        "p50_ms_without": round(p50_off, 3),
        "p99_ms_without": round(p99_off, 3),
        "p50_ms_with": round(p50_on, 3),
        "p99_ms_with": round(p99_on, 3),
        "mirrored": mirrored,
        "dropped": dropped,
    }
    return result


def _holding(ctx: ChaosContext) -> bool:
    """The replica that answers holds a rollout candidate."""
    with ctx.client(timeout_s=5) as client:
        seen = client.status().rollout
    return seen is not None and seen.candidate_loaded and seen.phase == "shadow"
