"""Drift statistics, each with a verdict a person can act on.

- PSI (population stability index) for a categorical mix (the predicted labels against the
  snapshot's label mix) and for a numeric feature over the reference's deciles. Usual reading,
  used here: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 drift.
- KS (two-sample Kolmogorov-Smirnov, scipy) for numeric features: drift when p < 0.01 and the
  statistic is at least 0.1 (with thousands of records a tiny, harmless shift is "significant";
  the effect size keeps the verdict meaningful).
Too few records for either (fewer than ``MIN_RECORDS``) give "insufficient data", never a
verdict.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["stable", "moderate", "drift", "insufficient data"]
PSI_MODERATE = 0.1
PSI_DRIFT = 0.25
KS_P = 0.01
KS_EFFECT = 0.1
MIN_RECORDS = 30
_EPS = 1e-4  # a share of zero would make PSI infinite; smoothed like every PSI tool does


class Statistic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="What is compared, e.g. `predicted label mix`.")
    method: Literal["psi", "ks"]
    value: float | None = Field(description="PSI, or the KS statistic (None: too few records).")
    p_value: float | None = None
    reference_n: int
    current_n: int
    verdict: Verdict
    reference: dict[str, float] = Field(
        default_factory=dict, description="Shares (mix) or summary (mean, p50, p90) of each side."
    )
    current: dict[str, float] = Field(default_factory=dict)


def psi_verdict(value: float) -> Verdict:
    return "drift" if value > PSI_DRIFT else "moderate" if value > PSI_MODERATE else "stable"


def _psi(reference: Sequence[float], current: Sequence[float]) -> float:
    total = 0.0
    for ref, cur in zip(reference, current, strict=True):
        ref, cur = max(ref, _EPS), max(cur, _EPS)
        total += (cur - ref) * math.log(cur / ref)
    return total


def shares(counts: Counter[str], keys: Sequence[str]) -> list[float]:
    total = sum(counts.values()) or 1
    return [counts.get(key, 0) / total for key in keys]


def mix_psi(name: str, reference: Counter[str], current: Counter[str]) -> Statistic:
    keys = sorted(set(reference) | set(current))
    ref_n, cur_n = sum(reference.values()), sum(current.values())
    ref_shares, cur_shares = shares(reference, keys), shares(current, keys)
    if min(ref_n, cur_n) < MIN_RECORDS:
        value, verdict = None, "insufficient data"
    else:
        value = round(_psi(ref_shares, cur_shares), 4)
        verdict = psi_verdict(value)
    return Statistic(
        name=name,
        method="psi",
        value=value,
        reference_n=ref_n,
        current_n=cur_n,
        verdict=verdict,
        reference={k: round(v, 4) for k, v in zip(keys, ref_shares, strict=True)},
        current={k: round(v, 4) for k, v in zip(keys, cur_shares, strict=True)},
    )


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not len(values):
        return {}
    array = np.asarray(values, dtype=float)
    p50, p90 = np.percentile(array, [50, 90])
    return {
        "mean": round(float(array.mean()), 4),
        "p50": round(float(p50), 4),
        "p90": round(float(p90), 4),
    }


def _numeric(
    name: str, method: Literal["psi", "ks"], reference: Sequence[float], current: Sequence[float]
) -> Statistic:
    """Both sides summarised; no value yet (a verdict only with enough records)."""
    return Statistic(
        name=name,
        method=method,
        value=None,
        reference_n=len(reference),
        current_n=len(current),
        verdict="insufficient data",
        reference=_summary(reference),
        current=_summary(current),
    )


def numeric_ks(name: str, reference: Sequence[float], current: Sequence[float]) -> Statistic:
    from scipy.stats import ks_2samp  # type: ignore[import-untyped]

    stat = _numeric(name, "ks", reference, current)
    if min(len(reference), len(current)) < MIN_RECORDS:
        return stat
    result = ks_2samp(reference, current)
    statistic, p_value = float(result.statistic), float(result.pvalue)
    drifted = p_value < KS_P and statistic >= KS_EFFECT
    moderate = p_value < KS_P and statistic >= KS_EFFECT / 2
    verdict: Verdict = "drift" if drifted else "moderate" if moderate else "stable"
    return stat.model_copy(
        update={"value": round(statistic, 4), "p_value": p_value, "verdict": verdict}
    )


def numeric_psi(name: str, reference: Sequence[float], current: Sequence[float]) -> Statistic:
    """PSI over the reference's deciles (the bins every PSI report uses)."""
    stat = _numeric(name, "psi", reference, current)
    if min(len(reference), len(current)) < MIN_RECORDS:
        return stat
    edges = np.unique(np.percentile(np.asarray(reference, dtype=float), np.linspace(0, 100, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    ref_hist = np.histogram(reference, bins=edges)[0] / len(reference)
    cur_hist = np.histogram(current, bins=edges)[0] / len(current)
    value = round(_psi(list(ref_hist), list(cur_hist)), 4)
    return stat.model_copy(update={"value": value, "verdict": psi_verdict(value)})
