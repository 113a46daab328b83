"""The model signer on the live platform: it signs what holds together and refuses what a
compromised train zone can fake (its own identity, the only reader of the signing key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.snapshot import load_manifest
from contracts.tags import ACCURACY_TAG, DATASET_DIGEST_TAG, MACRO_F1_TAG, TRAINING_RUN_TAG
from tests.utils.bundles import (
    make_bundle,
    prepared_version,
    register_bundle,
    signer_verdict,
    trainer_writer,
)
from tests.utils.platform import TestPlatform

pytestmark = [pytest.mark.integration]


def test_a_version_whose_evidence_is_true_is_signed(platform: TestPlatform, snapshot: Path) -> None:
    prepared = prepared_version(platform, snapshot)
    verdict = signer_verdict(platform, prepared.version)
    active = (platform.paths.signing_keys / "active").read_text().strip()
    print(f"\nv{prepared.version} (true evidence): {verdict}")
    assert verdict == f"signed (key {active[:12]})"
    # The whole chain, checked from the outside: snapshot -> run -> bundle -> signature.
    chain = platform.cli_json("verify", "sentiment", prepared.version)
    assert chain["holds"] and chain["signature"]["state"] == "verified"
    assert chain["signature"]["key_id"] == active
    assert (
        chain["snapshot"]["found"] and chain["snapshot"]["digest"] == load_manifest(snapshot).digest
    )
    assert chain["training"]["run_id"] == prepared.run_id
    # Beside the signature, the signed SLSA provenance statement: same snapshot, same run.
    made = chain["provenance"]
    assert made["state"] == "verified" and made["run_id"] == prepared.run_id
    assert made["snapshot_digest"] == chain["snapshot"]["digest"]
    assert made["source_sha256"] == chain["snapshot"]["source_sha256"]
    assert chain["bundle"]["files"]["model.onnx"]  # every file's digest listed
    shown = platform.cli("verify", "sentiment", prepared.version)
    assert shown.returncode == 0 and "signature verified" in shown.stderr, shown.stderr


def test_a_train_zone_that_records_fake_figures_gets_no_signature(
    platform: TestPlatform, snapshot: Path, tmp_path: Path
) -> None:
    """As the train zone's registry user: a barely trained model (about chance on the
    held-out split) registered claiming 0.97, with a passed gate. The signer measures it
    again and refuses; nothing the train zone holds can sign it instead."""
    digest = load_manifest(snapshot).digest
    folder = make_bundle(tmp_path / "bundle", dataset_digest=digest)
    run_ids: list[str] = []
    with trainer_writer(platform) as writer:
        version = register_bundle(
            writer,
            folder,
            "fake-figures",
            {ACCURACY_TAG: "0.97", MACRO_F1_TAG: "0.97", DATASET_DIGEST_TAG: digest},
            run_ids,
            stamp_run=True,
        )
        writer.client.set_model_version_tag("sentiment", version, TRAINING_RUN_TAG, run_ids[0])
    verdict = signer_verdict(platform, version)
    print(f"\nv{version} (claims accuracy 0.97): {verdict}")
    assert verdict.startswith("refused: train recorded accuracy 0.9700; the signer measures")
    chain = platform.cli("verify", "sentiment", version, "--json")
    assert chain.returncode == 1  # a chain that does not hold is a failure for scripts
    assert json.loads(chain.stdout)["signature"]["state"] == "refused by the signer"


def test_only_the_signers_registry_user_writes_a_verdict_and_nothing_else(
    platform: TestPlatform, snapshot: Path
) -> None:
    """Through the live registry (MLflow's permissions and both of bulkhead-auth's layers):
    the signer's user may set its verdict tags on a version and may not move an alias (its
    EDIT on the model would let MLflow do it); the trainer may not write or erase a verdict.
    (Found live: the registry's FastAPI layer refused the signer's own tag, so nothing was
    ever signed, while the unit test of the rule passed.)"""
    import httpx

    prepared = prepared_version(platform, snapshot)
    base = f"http://127.0.0.1:{platform.registry_port}/api/2.0/mlflow"

    def call(user: str, method: str, route: str, body: dict) -> int:
        with httpx.Client(base_url=base, auth=(user, platform.password(user))) as client:
            return client.request(method, route, json=body).status_code

    figures = {"name": "sentiment", "version": prepared.version}
    answers = {
        "signer sets its figures": call(
            "signer",
            "POST",
            "/model-versions/set-tag",
            {**figures, "key": "bulkhead.signer_figures", "value": "{}"},
        ),
        "signer moves champion": call(
            "signer",
            "POST",
            "/registered-models/alias",
            {**figures, "alias": "champion"},
        ),
        "signer sets the gate": call(
            "signer",
            "POST",
            "/model-versions/set-tag",
            {**figures, "key": "gate.passed", "value": "true"},
        ),
        "trainer writes a signature": call(
            "trainer",
            "POST",
            "/model-versions/set-tag",
            {**figures, "key": "bulkhead.signature", "value": "{}"},
        ),
        "trainer erases a verdict": call(
            "trainer",
            "DELETE",
            "/model-versions/delete-tag",
            {**figures, "key": "bulkhead.signer_figures"},
        ),
    }
    print(f"\nverdict tags through the live registry: {answers}")
    assert answers == {
        "signer sets its figures": 200,
        "signer moves champion": 403,
        "signer sets the gate": 403,
        "trainer writes a signature": 403,
        "trainer erases a verdict": 403,
    }
