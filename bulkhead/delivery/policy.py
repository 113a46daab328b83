"""One controller decision: advance, hold or abort, from the figures of the current phase.

Pure: the controller feeds it the state, how long the phase has run and both versions'
figures since the phase began; unit tests feed it numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.rollout import Decision, RolloutState, StepFigures

# A phase whose candidate never gathers enough samples is aborted after this many times its
# planned length (and at least STARVED_MIN_S): a candidate no replica could load, or no
# traffic, must not keep a rollout open forever.
STARVED_FACTOR = 3.0
STARVED_MIN_S = 120.0


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str


def phase_length_s(state: RolloutState) -> float:
    policy = state.policy
    return policy.shadow_for_s if state.phase == "shadow" else policy.step_for_s


def decide(
    state: RolloutState,
    elapsed_s: float,
    champion: StepFigures,
    candidate: StepFigures,
    baseline_p99_ms: float | None = None,
) -> Verdict:
    """``candidate`` holds shadow figures in the shadow phase and served ones in canary;
    ``baseline_p99_ms``: the champion's p99 from an earlier window, used when this window has
    too few champion answers (the 100 % step)."""
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
        reference = champion.p99_ms if champion.requests >= enough else baseline_p99_ms
        if candidate.p99_ms is not None and reference:
            ratio = candidate.p99_ms / reference
            slower_ms = candidate.p99_ms - reference
            if ratio > policy.max_p99_ratio and slower_ms > policy.p99_slack_ms:
                return Verdict(
                    "abort",
                    f"candidate p99 {candidate.p99_ms:.1f} ms = {ratio:.2f}x the champion's "
                    f"{reference:.1f} ms > {policy.max_p99_ratio:g}x",
                )
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
