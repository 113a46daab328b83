"""The controller's decisions from figures: each limit aborts, enough evidence advances."""

from __future__ import annotations

import time

import pytest

from bulkhead.delivery.policy import decide
from contracts.rollout import RolloutPolicy, RolloutState, StepFigures

POLICY = RolloutPolicy(shadow_for_s=30, steps=[10, 100], step_for_s=30, min_requests=50)
GOOD = StepFigures(requests=500, errors=0, p99_ms=10.0, mirrored=0, agreed=0)


def state(phase: str = "canary", step: int = 0) -> RolloutState:
    return RolloutState(
        id="r",
        model="m",
        champion="1",
        candidate="2",
        phase=phase,  # type: ignore[arg-type]
        weight=0 if phase == "shadow" else POLICY.steps[step],
        step=step,
        policy=POLICY,
        started_at=time.time(),
        updated_at=time.time(),
    )


def cand(**kw: float) -> StepFigures:
    base = {"requests": 120, "errors": 0, "p99_ms": 11.0, "mirrored": 120, "agreed": 119}
    return StepFigures.model_validate({**base, **kw})


PAIRS = StepFigures(requests=120, errors=0, p99_ms=2.0)
MANY = 1_500  # answers enough for a served p99 (SERVED_P99_MIN_ANSWERS)


@pytest.mark.parametrize(
    ("figures", "why"),
    [
        (cand(errors=5), "error rate"),
        (cand(agreed=50), "agrees"),
    ],
)
def test_each_limit_aborts(figures: StepFigures, why: str) -> None:
    verdict = decide(state(), 5.0, GOOD, figures)
    assert verdict.decision == "abort" and why in verdict.reason


@pytest.mark.parametrize("phase", ["shadow", "canary"])
def test_a_slower_candidate_is_aborted_on_paired_shadow_timings(phase: str) -> None:
    slow_pairs = (PAIRS, PAIRS.model_copy(update={"p99_ms": 4.0}))
    verdict = decide(state(phase), 5.0, GOOD, cand(), paired=slow_pairs)
    assert verdict.decision == "abort" and "same 120 mirrored texts" in verdict.reason
    same_pairs = (PAIRS, PAIRS.model_copy(update={"p99_ms": 2.2}))
    assert decide(state(phase), 5.0, GOOD, cand(), paired=same_pairs).decision == "hold"


def test_served_p99_is_judged_only_with_ten_answers_beyond_it() -> None:
    # The CI case: an identical copy's p99 over 120 answers (its single slowest) was 1.6x.
    noisy = cand(p99_ms=2.8)
    champion = GOOD.model_copy(update={"requests": MANY, "p99_ms": 1.7})
    assert decide(state(), 5.0, champion, noisy).decision == "hold"
    verdict = decide(state(), 5.0, champion, cand(requests=MANY, p99_ms=2.8))
    assert verdict.decision == "abort" and f"over {MANY} answers" in verdict.reason
    # In the shadow phase, the candidate's calls are copies: only pairs judge latency.
    assert decide(state("shadow"), 5.0, champion, cand(requests=MANY, p99_ms=9.0)).decision == (
        "hold"
    )


def test_limits_need_enough_samples_and_slack() -> None:
    few = cand(requests=10, errors=5, mirrored=10, agreed=0)
    assert decide(state(), 5.0, GOOD, few).decision == "hold"
    # Below min_requests (50 here) pairs are not judged yet.
    few_pairs = (PAIRS.model_copy(update={"requests": 40}),) * 2
    slow_few = (few_pairs[0], few_pairs[1].model_copy(update={"p99_ms": 50.0}))
    assert decide(state(), 5.0, GOOD, cand(), paired=slow_few).decision == "hold"
    # 3x slower, but by half a millisecond: noise for a sub-ms model
    tiny = (PAIRS.model_copy(update={"p99_ms": 0.25}), PAIRS.model_copy(update={"p99_ms": 0.75}))
    assert decide(state(), 5.0, GOOD, cand(), paired=tiny).decision == "hold"


def test_a_phase_advances_after_its_length_with_enough_evidence() -> None:
    assert decide(state("shadow"), 10.0, GOOD, cand()).decision == "hold"
    assert decide(state("shadow"), 31.0, GOOD, cand()).decision == "advance"
    # Every phase needs mirrored texts: agreement must have been measured to advance.
    for phase in ("shadow", "canary"):
        verdict = decide(state(phase), 31.0, GOOD, cand(mirrored=0, agreed=0))
        assert verdict.decision == "hold" and "mirrored" in verdict.reason
    assert decide(state("canary", 0), 31.0, GOOD, cand()).decision == "advance"
    assert decide(state("canary", 1), 31.0, GOOD, cand()).decision == "complete"


def test_the_last_step_compares_with_the_baseline_when_the_champion_gets_no_traffic() -> None:
    idle = StepFigures()
    slow = cand(requests=MANY, p99_ms=30.0)
    verdict = decide(state("canary", 1), 5.0, idle, slow, baseline_p99_ms=10.0)
    assert verdict.decision == "abort" and "p99" in verdict.reason


def test_a_starved_phase_is_aborted() -> None:
    none = StepFigures()
    assert decide(state(), 100.0, GOOD, none).decision == "hold"
    verdict = decide(state(), 200.0, GOOD, none)
    assert verdict.decision == "abort" and "too few samples" in verdict.reason


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="increase"):
        RolloutPolicy(steps=[50, 25])
    with pytest.raises(ValueError, match=r"1\.\.100"):
        RolloutPolicy(steps=[0, 50])
    with pytest.raises(ValueError, match="already the champion"):
        state().model_copy().model_validate({**state().model_dump(), "candidate": "1"})
