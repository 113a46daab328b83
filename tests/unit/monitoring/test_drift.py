"""Drift statistics: no drift on the same distribution, drift on a shifted one, and no
verdict without enough records."""

from __future__ import annotations

import random
from collections import Counter

from bulkhead.monitoring.drift import mix_psi, numeric_ks, numeric_psi


def test_the_same_mix_is_stable_and_a_flipped_mix_drifts() -> None:
    reference = Counter({"fresh": 500, "rotten": 500})
    assert mix_psi("mix", reference, Counter({"fresh": 490, "rotten": 510})).verdict == "stable"
    drifted = mix_psi("mix", reference, Counter({"fresh": 900, "rotten": 100}))
    assert drifted.verdict == "drift" and drifted.value is not None and drifted.value > 0.25
    assert drifted.current == {"fresh": 0.9, "rotten": 0.1}


def test_a_label_never_seen_in_training_is_a_finite_drift() -> None:
    stat = mix_psi("mix", Counter({"a": 100, "b": 100}), Counter({"a": 50, "b": 50, "c": 100}))
    assert stat.verdict == "drift" and stat.value is not None and stat.value < 100


def test_numeric_features_same_and_shifted() -> None:
    rng = random.Random(7)
    reference = [rng.gauss(100, 20) for _ in range(2000)]
    same = [rng.gauss(100, 20) for _ in range(2000)]
    longer = [rng.gauss(160, 20) for _ in range(2000)]
    assert numeric_ks("len", reference, same).verdict == "stable"
    assert numeric_psi("len", reference, same).verdict == "stable"
    shifted = numeric_ks("len", reference, longer)
    assert shifted.verdict == "drift" and shifted.p_value is not None and shifted.p_value < 0.01
    assert numeric_psi("len", reference, longer).verdict == "drift"


def test_too_few_records_give_no_verdict() -> None:
    assert numeric_ks("len", [1.0] * 10, [2.0] * 10).verdict == "insufficient data"
    assert mix_psi("mix", Counter({"a": 5}), Counter({"b": 5})).value is None
