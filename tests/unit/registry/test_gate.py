import pytest

from registry.gate import Evidence, GatePolicy, beats_champion, evaluate


def _evidence(accuracy: float = 0.8, f1: float = 0.78, parity: float = 1e-6) -> Evidence:
    return Evidence(accuracy=accuracy, macro_f1=f1, parity_max_abs_diff=parity, dataset_digest="d")


def test_first_version_above_the_floors_passes() -> None:
    result = evaluate(GatePolicy(), _evidence(), None)
    assert result.passed and result.reasons == [] and result.compared_with is None


@pytest.mark.parametrize(
    ("evidence", "reason"),
    [
        (_evidence(accuracy=0.70), "accuracy 0.7000 < floor 0.7500"),
        (_evidence(f1=0.5), "macro_f1 0.5000 < floor 0.7000"),
        (_evidence(parity=3e-4), "ONNX parity 3.00e-04 > 1e-04"),
    ],
)
def test_floors_and_parity_fail_with_a_reason(evidence: Evidence, reason: str) -> None:
    result = evaluate(GatePolicy(), evidence, None)
    assert not result.passed
    assert result.reasons == [reason]


def test_regression_against_the_champion_beyond_the_margin_fails() -> None:
    policy = GatePolicy(max_regression=0.01)
    champion = _evidence(accuracy=0.83)
    assert evaluate(policy, _evidence(accuracy=0.825), champion, "3").passed
    failed = evaluate(policy, _evidence(accuracy=0.81), champion, "3")
    assert not failed.passed
    assert "regresses against champion v3" in failed.reasons[0]
    assert failed.compared_with == "3"


def test_auto_promotion_needs_a_gain_over_the_champion() -> None:
    champion = _evidence(accuracy=0.80)
    assert beats_champion(GatePolicy(), _evidence(accuracy=0.80), None)
    assert not beats_champion(GatePolicy(), _evidence(accuracy=0.80), champion)
    assert beats_champion(GatePolicy(), _evidence(accuracy=0.801), champion)
    assert not beats_champion(GatePolicy(promote_min_gain=0.01), _evidence(0.805), champion)
