"""The controller loop against an in-memory registry and scripted figures: every decision is
written to the store and the rollout ends completed or aborted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from bulkhead.delivery.controller import RolloutController
from bulkhead.delivery.figures import Totals, VersionTotals
from contracts.rollout import RolloutEvent, RolloutPolicy, RolloutState, StepFigures
from registry.rollouts import RolloutStore

POLICY = RolloutPolicy(shadow_for_s=1, steps=[50, 100], step_for_s=1, min_requests=20)


class MemoryStore:
    model_name = "m"

    def __init__(self, state: RolloutState) -> None:
        self.state: RolloutState | None = state
        self.events: list[RolloutEvent] = []
        self.promoted: list[str] = []

    def current(self) -> RolloutState | None:
        return self.state

    def update(self, state: RolloutState, **changes: Any) -> RolloutState:
        self.state = RolloutState.model_validate({**state.model_dump(), **changes})
        return self.state

    def abort(self, state: RolloutState, reason: str) -> RolloutState:
        return self.update(state, phase="aborted", weight=0, reason=reason)

    def complete(self, state: RolloutState, reason: str) -> RolloutState:
        self.promoted.append(state.candidate)
        return self.update(state, phase="completed", weight=100, reason=reason)

    def record(
        self,
        state: RolloutState,
        decision: str,
        reason: str,
        champion: StepFigures | None = None,
        candidate: StepFigures | None = None,
    ) -> RolloutEvent:
        event = RolloutEvent.model_validate(
            {
                "rollout_id": state.id,
                "at": time.time(),
                "decision": decision,
                "phase": state.phase,
                "weight": state.weight,
                "reason": reason,
                "champion": champion,
                "candidate": candidate,
            }
        )
        self.events.append(event)
        return event


def start() -> RolloutState:
    now = time.time()
    return RolloutState(
        id="r",
        model="m",
        champion="1",
        candidate="2",
        phase="shadow",
        policy=POLICY,
        started_at=now,
        updated_at=now,
    )


class Traffic:
    """Cumulative totals growing by ``per_tick`` calls a tick, as replicas would export."""

    def __init__(self, candidate_errors: float = 0.0, agree: float = 1.0) -> None:
        self.totals: Totals = {"1": VersionTotals(), "2": VersionTotals()}
        self.candidate_errors = candidate_errors
        self.agree = agree

    def tick(self) -> Totals:
        for version, path in (("1", "served"), ("2", "served"), ("2", "shadow")):
            t = self.totals[version]
            ok = 30 * (1 - self.candidate_errors) if version == "2" else 30
            t.calls[(path, "ok")] += ok
            t.calls[(path, "error")] += 30 - ok
            for le in (5.0, float("inf")):
                t.buckets[path][le] += ok
        self.totals["2"].shadow["true"] += 30 * self.agree
        self.totals["2"].shadow["false"] += 30 * (1 - self.agree)
        return {v: _copy(t) for v, t in self.totals.items()}


def _copy(t: VersionTotals) -> VersionTotals:
    out = VersionTotals()
    out.calls.update(t.calls)
    for path, buckets in t.buckets.items():
        out.buckets[path].update(buckets)
    out.shadow.update(t.shadow)
    return out


def run(traffic: Traffic, store: MemoryStore) -> tuple[RolloutState | None, list[str]]:
    lines: list[str] = []
    sleep: Callable[[float], None] = lambda s: time.sleep(0.35)  # noqa: E731
    controller = RolloutController(
        cast(RolloutStore, store), [], echo=lines.append, sleep=sleep, read=traffic.tick
    )
    report = controller.run(max_s=30)
    return report.state, lines


def test_a_good_candidate_goes_shadow_canary_champion() -> None:
    store = MemoryStore(start())
    final, _ = run(Traffic(), store)
    assert final is not None and final.phase == "completed"
    assert store.promoted == ["2"]
    assert [e.decision for e in store.events] == ["advance", "advance", "complete"]
    assert all(e.candidate is not None and e.candidate.requests >= 20 for e in store.events)


def test_an_erroring_candidate_is_aborted_with_the_figures_recorded() -> None:
    store = MemoryStore(start())
    final, lines = run(Traffic(candidate_errors=0.2), store)
    assert final is not None and final.phase == "aborted" and "error rate" in final.reason
    assert store.promoted == []
    (event,) = store.events
    assert event.decision == "abort" and event.candidate is not None and event.candidate.errors
    assert any("abort" in line for line in lines)


def test_a_disagreeing_candidate_is_aborted() -> None:
    store = MemoryStore(start())
    final, _ = run(Traffic(agree=0.5), store)
    assert final is not None and final.phase == "aborted" and "agrees" in final.reason
