"""What the signer signs and what it refuses (Covers: signer/decide.py, signer/evaluate.py):
a real tiny bundle, a real snapshot, the train zone's own evaluation as the honest record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from contracts import provenance, signatures
from contracts.digest import sha256_file
from contracts.signatures import SignerPolicy
from contracts.snapshot import load_manifest as snapshot_manifest
from contracts.tags import (
    ACCURACY_TAG,
    DATASET_DIGEST_TAG,
    GATE_PASSED_TAG,
    MACRO_F1_TAG,
    MANIFEST_DIGEST_TAG,
    TRAINING_RUN_TAG,
)
from registry import bundle
from signer.decide import Champion, Verdict, decide, find_snapshot
from signer.evaluate import macro_f1, measure
from tests.utils.snapshots import make_snapshot

KEY = signatures.new_private_key()


def _decide(folder: Path, root: Path, tags: dict[str, str], **policy: float):
    return decide(folder, "sentiment", "3", tags, root, KEY, SignerPolicy(**policy))


def test_an_honest_version_is_signed_and_its_signature_verifies(made) -> None:
    folder, root, tags = made
    verdict = _decide(folder, root, tags)
    assert verdict.signed, verdict.reason
    assert verdict.figures is not None and verdict.figures.examples == 20
    assert abs(verdict.figures.accuracy - float(tags[ACCURACY_TAG])) <= 1e-4  # same figure
    trusted = {signatures.key_id(KEY.public_key()): KEY.public_key()}
    found = signatures.verify(
        folder, verdict.signature or "", trusted, "sentiment", "3", tags[MANIFEST_DIGEST_TAG]
    )
    assert found.binding.snapshot_digest == tags[DATASET_DIGEST_TAG]
    # Beside it, a signed SLSA provenance statement: the same files, the snapshot and the
    # file it was cut from, the run, the figures the signer measured.
    key, made_by = provenance.verify(
        verdict.provenance or "", trusted, "sentiment", "3", found.root_digest
    )
    assert key == found.key_id and made_by.binding == found.binding
    snapshot = find_snapshot(root, tags[DATASET_DIGEST_TAG])
    assert snapshot is not None
    manifest = snapshot_manifest(snapshot)
    assert made_by.snapshot_source_sha256 == manifest.source.sha256
    assert made_by.figures["accuracy"] == verdict.figures.accuracy
    for model, version, files, why in (
        ("sentiment", "4", found.root_digest, "for sentiment v3, not sentiment v4"),
        ("other", "3", found.root_digest, "for sentiment v3, not other v3"),
        ("sentiment", "3", "0" * 64, "other files than the signature"),
    ):
        with pytest.raises(signatures.SignatureError, match=why):
            provenance.verify(verdict.provenance or "", trusted, model, version, files)
    # An OMS signature is not a provenance statement, nor the other way round.
    with pytest.raises(signatures.SignatureError, match="not a SLSA v1 provenance"):
        provenance.verify(verdict.signature or "", trusted, "sentiment", "3", found.root_digest)
    with pytest.raises(signatures.SignatureError, match=r"not an OMS v1\.0 model signature"):
        signatures.check_statement(verdict.provenance or "", trusted, "sentiment", "3")


def test_a_train_zone_that_records_fake_figures_is_refused(made) -> None:
    """A compromised train zone logs a bad model with a good accuracy: the signer measures."""
    folder, root, tags = made
    verdict = _decide(folder, root, {**tags, ACCURACY_TAG: "0.97"})
    assert not verdict.signed and verdict.signature is None
    assert "train recorded accuracy 0.9700; the signer measures" in verdict.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({GATE_PASSED_TAG: "false"}, "did not pass the train gate"),
        ({MANIFEST_DIGEST_TAG: "f" * 64}, "does not match its pin"),
        ({DATASET_DIGEST_TAG: "e" * 64}, "the version names snapshot eeeeeeeeeeee"),
        ({TRAINING_RUN_TAG: "another-run"}, "name different runs"),
        ({MACRO_F1_TAG: "not a number"}, "no macro-F1 recorded"),
    ],
    ids=["gate failed", "pin", "snapshot", "run", "no macro-F1"],
)
def test_what_does_not_hold_together_is_refused(made, change: dict, reason: str) -> None:
    folder, root, tags = made
    verdict = _decide(folder, root, {**tags, **change})
    assert not verdict.signed and reason in verdict.reason, verdict.reason


def test_files_replaced_after_registration_are_refused(made, tmp_path: Path) -> None:
    """The registry admin's attack on the artefact store: new files, a manifest rewritten to
    match them; the pin the registry recorded at registration no longer holds."""
    folder, root, tags = made
    copy = shutil.copytree(folder, tmp_path / "bundle")
    (copy / bundle.MODEL_FP32).write_bytes((copy / bundle.MODEL_FP32).read_bytes() + b"\0")
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    manifest["files"][bundle.MODEL_FP32] = sha256_file(copy / bundle.MODEL_FP32)
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest))
    verdict = _decide(copy, root, tags)
    assert not verdict.signed and "does not match its pin" in verdict.reason


def test_the_operators_floor_is_the_signers_not_the_runs(made) -> None:
    folder, root, tags = made
    verdict = _decide(folder, root, tags, min_accuracy=0.99)
    assert not verdict.signed and "< the signer's floor 0.9900" in verdict.reason


def test_a_snapshot_the_signer_cannot_find_is_refused(made, tmp_path: Path) -> None:
    folder, _, tags = made
    verdict = _decide(folder, tmp_path, tags)
    assert not verdict.signed and "is not where the signer reads" in verdict.reason


def test_macro_f1_is_scikit_learns() -> None:
    from sklearn.metrics import f1_score

    for truth, predicted in (
        ([0, 1, 1, 0, 1], [0, 1, 0, 0, 1]),
        ([0, 0, 0], [1, 1, 1]),
        ([0, 1, 2, 2], [0, 2, 2, 1]),
    ):
        expected = f1_score(truth, predicted, average="macro", zero_division=0)
        assert macro_f1(truth, predicted) == pytest.approx(expected)


def test_measure_refuses_a_snapshot_with_labels_the_model_lacks(made, tmp_path: Path) -> None:
    folder = made[0]
    snapshot = make_snapshot(tmp_path / "other", n=60)
    manifest = bundle.verify(folder).model_copy(update={"labels": ["only-one", "two"]})
    with pytest.raises(ValueError, match="labels the model lacks"):
        measure(folder, manifest, snapshot)


def test_a_version_that_regresses_against_the_champion_is_refused(made, tmp_path: Path) -> None:
    """The gate's champion comparison, measured again by the signer on the same split: a
    train zone could have recorded any comparison. The tiny model answers one label for every
    text; on a held-out split with more of one label than the other, it and the same model
    with its outputs swapped differ in accuracy: the worse one is the candidate."""
    from bulkhead.harness.chaos.candidates import make_variant
    from signer.evaluate import held_out
    from tests.utils.bundles import held_out_figures

    folder, _, tags = made
    snapshot = make_snapshot(tmp_path / "data", n=210)  # 21 held-out texts: 11 and 10
    labels = held_out(snapshot)[1]
    assert labels.count(labels[0]) * 2 != len(labels)
    digest = snapshot_manifest(snapshot).digest

    def rebased(source: Path, name: str) -> Path:
        copy = Path(shutil.copytree(source, tmp_path / name))
        fields = bundle.verify(copy).model_dump(exclude={"files"})
        bundle.write_manifest(copy, **{**fields, "dataset_digest": digest})
        return copy

    plain = rebased(folder, "plain")
    flipped = rebased(folder, "flipped")
    make_variant(flipped, "flipped")

    def honest(bundle_folder: Path) -> dict[str, str]:
        figures = held_out_figures(bundle_folder, snapshot)
        return {
            **tags,
            DATASET_DIGEST_TAG: digest,
            MANIFEST_DIGEST_TAG: bundle.manifest_digest(bundle_folder),
            ACCURACY_TAG: f"{figures['accuracy']:.6g}",
            MACRO_F1_TAG: f"{figures['macro_f1']:.6g}",
        }

    def accuracy(bundle_folder: Path) -> float:
        return float(held_out_figures(bundle_folder, snapshot)["accuracy"])

    better, worse = sorted((plain, flipped), key=accuracy, reverse=True)
    assert accuracy(better) > accuracy(worse) + 0.005
    champion = Champion(version="1", folder=better, pin=bundle.manifest_digest(better))
    where = snapshot.parent

    def judged(policy: SignerPolicy, against: Champion) -> Verdict:
        return decide(worse, "sentiment", "3", honest(worse), where, KEY, policy, against)

    verdict = judged(SignerPolicy(), champion)
    assert not verdict.signed and "regresses against champion v1" in verdict.reason
    assert verdict.champion_figures is not None
    assert verdict.champion_figures.accuracy == accuracy(better)
    # Within the operator's margin it is signed; against itself there is nothing to compare.
    assert judged(SignerPolicy(max_regression=1.0), champion).signed
    assert judged(SignerPolicy(), Champion(version="3", folder=worse, pin=None)).signed
