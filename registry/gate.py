"""The promotion gate: absolute floors, no regression against the champion, ONNX parity."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_accuracy: float = Field(0.75, ge=0, le=1, description="Absolute floor, test split.")
    min_macro_f1: float = Field(0.70, ge=0, le=1, description="Absolute floor, test split.")
    max_regression: float = Field(
        0.005, ge=0, le=1, description="Accuracy the candidate may lose against the champion."
    )
    max_parity_diff: float = Field(
        1e-4, gt=0, description="Max |torch - ONNX| logit difference on real texts."
    )
    promote_min_gain: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Auto-promotion needs accuracy above the champion's by more than this; "
        "a version that passes the gate without it becomes `challenger` only.",
    )


class Evidence(BaseModel):
    """The measured facts the gate decides on (also written as version tags)."""

    model_config = ConfigDict(extra="forbid")

    accuracy: float
    macro_f1: float
    parity_max_abs_diff: float
    dataset_digest: str


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passed: bool
    reasons: list[str] = Field(description="Why it failed; empty when it passed.")
    compared_with: str | None = Field(None, description="Champion version compared against.")
    champion_accuracy: float | None = Field(None, description="The champion's accuracy compared.")
    champion_on_this_split: bool = Field(
        False,
        description="The champion was evaluated on this version's test split (the snapshots "
        "differ); otherwise its recorded figure on the same snapshot was used.",
    )


def evaluate(
    policy: GatePolicy,
    candidate: Evidence,
    champion: Evidence | None,
    champion_version: str | None = None,
    champion_on_this_split: bool = False,
) -> GateResult:
    reasons = []
    if candidate.accuracy < policy.min_accuracy:
        reasons.append(f"accuracy {candidate.accuracy:.4f} < floor {policy.min_accuracy:.4f}")
    if candidate.macro_f1 < policy.min_macro_f1:
        reasons.append(f"macro_f1 {candidate.macro_f1:.4f} < floor {policy.min_macro_f1:.4f}")
    if candidate.parity_max_abs_diff > policy.max_parity_diff:
        reasons.append(
            f"ONNX parity {candidate.parity_max_abs_diff:.2e} > {policy.max_parity_diff:.0e}"
        )
    if champion is not None:
        allowed = champion.accuracy - policy.max_regression
        if candidate.accuracy < allowed:
            reasons.append(
                f"accuracy {candidate.accuracy:.4f} regresses against champion "
                f"v{champion_version} ({champion.accuracy:.4f}"
                f"{' on the same test split' if champion_on_this_split else ''}, "
                f"margin {policy.max_regression})"
            )
    return GateResult(
        passed=not reasons,
        reasons=reasons,
        compared_with=champion_version,
        champion_accuracy=champion.accuracy if champion is not None else None,
        champion_on_this_split=champion_on_this_split,
    )


def beats_champion(policy: GatePolicy, candidate: Evidence, champion: Evidence | None) -> bool:
    """Whether a gate-passing candidate should replace the champion automatically."""
    return champion is None or candidate.accuracy > champion.accuracy + policy.promote_min_gain
