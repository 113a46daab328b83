"""The gate's champion comparison on the candidate's own test split (training/head_to_head.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import bundle
from registry.gate import Evidence, GatePolicy, evaluate
from tests.utils.bundles import make_bundle
from training import head_to_head


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


def test_a_bundle_scores_its_own_golden_answers_perfectly(built: Path) -> None:
    """Tokenizer, inputs and label order as serving uses them: the bundle's golden examples
    (its answers at export) come back exactly, in the split's label order."""
    golden = bundle.read_golden(built)
    texts = [g.text for g in golden]
    reversed_names = ["rotten", "fresh"]  # the split's order need not be the bundle's
    manifest = bundle.verify(built)
    predicted = head_to_head.bundle_predictions(built, manifest, texts, reversed_names)
    assert [reversed_names[i] for i in predicted] == [g.label for g in golden]
    unknown = head_to_head.bundle_predictions(built, manifest, texts, ["objective", "subjective"])
    assert set(unknown.tolist()) == {-1}  # labels the split lacks are always wrong


RECORDED = Evidence(accuracy=0.91, macro_f1=0.9, parity_max_abs_diff=1e-6, dataset_digest="a" * 64)


class Writer:
    def evidence(self, version: str) -> Evidence:
        return RECORDED


def test_the_same_snapshot_uses_the_recorded_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object) -> Evidence:
        raise AssertionError("evaluated again on an unchanged snapshot")

    monkeypatch.setattr(head_to_head, "_evaluated_here", never)
    assert head_to_head.champion_evidence("m", Writer(), "1", Path("s"), "a" * 64) == (
        RECORDED,
        False,
    )


def test_a_new_snapshot_evaluates_the_champion_on_its_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here = RECORDED.model_copy(update={"accuracy": 0.61, "dataset_digest": "b" * 64})
    monkeypatch.setattr(head_to_head, "_evaluated_here", lambda *args: here)
    evidence, on_split = head_to_head.champion_evidence("m", Writer(), "1", Path("s"), "b" * 64)
    assert (evidence, on_split) == (here, True)
    # The retrained candidate that lost to the recorded 0.91 passes against the same split.
    candidate = Evidence(
        accuracy=0.895, macro_f1=0.89, parity_max_abs_diff=1e-6, dataset_digest="b" * 64
    )
    assert not evaluate(GatePolicy(), candidate, RECORDED, "1").passed
    gate = evaluate(GatePolicy(), candidate, evidence, "1", on_split)
    assert gate.passed and gate.champion_accuracy == 0.61 and gate.champion_on_this_split


def test_a_champion_that_cannot_be_fetched_falls_back_to_its_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(*args: object) -> Evidence:
        raise ConnectionError("registry unreachable")

    monkeypatch.setattr(head_to_head, "_evaluated_here", unreachable)
    assert head_to_head.champion_evidence("m", Writer(), "1", Path("s"), "b" * 64) == (
        RECORDED,
        False,
    )
