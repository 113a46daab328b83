"""One controller decision: advance, hold or abort, from the figures of the current phase.

Pure: the controller feeds it the state, how long the phase has run and both versions'
figures since the phase began; unit tests feed it numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.rollout import Decision, RolloutPolicy, RolloutState, StepFigures

# A phase whose candidate never gathers enough samples is aborted after this many times its
# planned length (and at least STARVED_MIN_S): a candidate no replica could load, or no
# traffic, must not keep a rollout open forever.
STARVED_FACTOR = 3.0
STARVED_MIN_S = 120.0

# A p99 of answers to clients is judged only with this many answers beyond it (1,000 answers
# for a p99): with fewer, "p99" is one of the few slowest answers of the window, and one
# scheduling hiccup on a busy machine aborted an identical copy in CI. Paired shadow timings
# (both versions on the same text, back to back, CPU time) carry no queueing noise and are
# judged from ``min_requests`` pairs.
MIN_TAIL_SAMPLES = 10
SERVED_P99_MIN_ANSWERS = round(MIN_TAIL_SAMPLES / 0.01)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str


def phase_length_s(state: RolloutState) -> float:
    policy = state.policy
    return policy.shadow_for_s if state.phase == "shadow" else policy.step_for_s


def _slower(policy: RolloutPolicy, candidate_ms: float | None, reference_ms: float | None) -> str:
    """Why the candidate's p99 breaks the limit, or "" when it does not."""
    if candidate_ms is None or not reference_ms:
        return ""
    ratio = candidate_ms / reference_ms
    if ratio > policy.max_p99_ratio and candidate_ms - reference_ms > policy.p99_slack_ms:
        return (
            f"candidate p99 {candidate_ms:.1f} ms = {ratio:.2f}x the champion's "
            f"{reference_ms:.1f} ms > {policy.max_p99_ratio:g}x"
        )
    return ""


def latency_breach(
    policy: RolloutPolicy,
    champion: StepFigures,
    candidate: StepFigures,
    baseline_p99_ms: float | None = None,
    paired: tuple[StepFigures, StepFigures] | None = None,
) -> str:
    """The latency limit, on the evidence that can carry it: ``paired`` (champion's and
    candidate's shadow calls on the same texts) from ``min_requests`` pairs; answers to
    clients (canary) from ``SERVED_P99_MIN_ANSWERS``, against the champion's answers of the
    same window or, when it has too few (the 100 % step), ``baseline_p99_ms``."""
    if paired is not None:
        champion_pairs, candidate_pairs = paired
        if min(champion_pairs.requests, candidate_pairs.requests) >= policy.min_requests:
            why = _slower(policy, candidate_pairs.p99_ms, champion_pairs.p99_ms)
            if why:
                return f"{why} on the same {candidate_pairs.requests} mirrored texts"
    if candidate.requests >= SERVED_P99_MIN_ANSWERS:
        enough = champion.requests >= SERVED_P99_MIN_ANSWERS
        reference = champion.p99_ms if enough else baseline_p99_ms
        why = _slower(policy, candidate.p99_ms, reference)
        if why:
            return f"{why} over {candidate.requests} answers"
    return ""


def decide(
    state: RolloutState,
    elapsed_s: float,
    champion: StepFigures,
    candidate: StepFigures,
    baseline_p99_ms: float | None = None,
    paired: tuple[StepFigures, StepFigures] | None = None,
) -> Verdict:
    """``candidate`` holds shadow figures in the shadow phase and answers to clients in
    canary; ``paired``: both versions' shadow calls of this window (see latency_breach);
    ``baseline_p99_ms``: the champion's p99 of answers from an earlier window."""
    policy = state.policy
    enough = policy.min_requests
    # --- abort: any limit broken on enough samples
    if candidate.requests >= enough:
        allowed = champion.error_rate + policy.max_error_rate
        if candidate.error_rate > allowed:
            return Verdict(
                "abort",
                f"candidate error rate {candidate.error_rate:.1%} over {candidate.requests} "
                f"calls > champion's {champion.error_rate:.1%} + {policy.max_error_rate:.1%}",
            )
    served = (champion, candidate) if state.phase == "canary" else (StepFigures(), StepFigures())
    slower = latency_breach(policy, *served, baseline_p99_ms=baseline_p99_ms, paired=paired)
    if slower:
        return Verdict("abort", slower)
    agreement = candidate.agreement
    if agreement is not None and candidate.mirrored >= enough and agreement < policy.min_agreement:
        return Verdict(
            "abort",
            f"candidate agrees with the champion on {agreement:.1%} of {candidate.mirrored} "
            f"mirrored texts < {policy.min_agreement:.0%}",
        )
    # --- advance: the phase ran its length with enough evidence of every kind
    needed = [("candidate calls", candidate.requests), ("mirrored texts", candidate.mirrored)]
    short = [f"{name} {count}/{enough}" for name, count in needed if count < enough]
    length = phase_length_s(state)
    if elapsed_s >= length and not short:
        if state.phase == "canary" and state.step >= len(policy.steps) - 1:
            return Verdict("complete", f"last step ({state.weight}%) held {elapsed_s:.0f} s")
        return Verdict("advance", f"{state.phase} {state.weight}% held {elapsed_s:.0f} s")
    starved_after = max(STARVED_FACTOR * length, length + STARVED_MIN_S)
    if short and elapsed_s >= starved_after:
        return Verdict(
            "abort",
            f"too few samples after {elapsed_s:.0f} s ({', '.join(short)}): is the candidate "
            "loaded (bulkhead status) and is there traffic?",
        )
    if short:
        return Verdict("hold", f"waiting for samples ({', '.join(short)})")
    return Verdict("hold", f"{elapsed_s:.0f}/{length:.0f} s")
