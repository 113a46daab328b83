"""The serve zone trusts a signature, not the registry (live platform, real replicas).

Whoever controls the registry (its admin here: every artefact and tag is theirs to rewrite)
aims `champion` at a model the signer never passed, five ways, under load: each is refused
by the replicas, said in /v1/status, and the old champion answers every request
(`chaos --scenario registry-compromised`). The operator's own forced promotion of an unsigned
version is not served either, and `bulkhead status` says why. Each fails on a main without
signature checks in serving (the first two would be served: their files and pins agree).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from contracts.tags import GATE_FAILED_TAG, GATE_PASSED_TAG
from tests.utils.bundles import make_bundle, trainer_writer
from tests.utils.platform import Served, TestPlatform

pytestmark = [pytest.mark.integration]


def test_a_compromised_registry_cannot_get_an_unsigned_model_served(
    platform: TestPlatform, served: Served
) -> None:
    done = platform.cli("chaos", "--scenario", "registry-compromised", "--json", timeout=400)
    results = json.loads(done.stdout) if done.stdout.strip() else []
    assert results, done.stderr[-3000:]
    (result,) = results
    print(f"\nregistry compromised: {result['requests']} requests; {result['detail']}")
    detail = result["detail"]
    assert "the files are not the signed ones" in detail  # files rewritten, pin kept
    assert "names another manifest than the registry pins" in detail  # pin rewritten too
    assert "the signature is for sentiment v" in detail  # the champion's signature moved
    assert "which this model's policy does not trust" in detail  # the admin's own key
    assert "unsigned, force-promoted: v" in detail and "NOT REFUSED" not in detail
    assert result["failed"] == 0 and result["requests"] > 50, result
    assert len(result["counts"]["versions"]) == 1, result["counts"]  # the old champion only
    assert result["verdict"] == "pass", result


def test_an_unsigned_version_the_operator_forces_is_not_served_and_status_says_why(
    platform: TestPlatform, served: Served, tmp_path: Path
) -> None:
    """A version that failed its gate (so the signer never judges it), force-promoted."""
    before = served.answering_version()
    with trainer_writer(platform) as writer:
        client = writer.client
        experiment = client.get_experiment_by_name("bulkhead")
        assert experiment is not None
        run = client.create_run(experiment.experiment_id, run_name="unsigned-forced")
        logged = writer.log_bundle(run.info.run_id, make_bundle(tmp_path / "bundle"))
        client.set_terminated(run.info.run_id)
        version = writer.register(
            run.info.run_id,
            logged,
            {GATE_PASSED_TAG: "false", GATE_FAILED_TAG: "accuracy 0.51 below the floor 0.75"},
        )
    forced = platform.cli("promote", version, "--force", "--reason", "test: unsigned, forced")
    assert forced.returncode == 0, forced.stderr[-2000:]
    try:
        deadline = time.monotonic() + 30
        shown = ""
        while f"v{version} is not signed" not in shown:
            assert time.monotonic() < deadline, f"no refusal of v{version} shown: {shown!r}"
            time.sleep(0.5)
            shown = platform.cli_json("status")["serving"]["last_error"] or ""
            assert served.answering_version() == before
        print(f"\nforced unsigned v{version}: {shown}")
        assert "not signed" in platform.cli("status").stderr
    finally:
        back = platform.cli("rollback", "--reason", "test: unsigned, forced, back")
        assert back.returncode == 0, back.stderr[-2000:]


def test_a_key_rotation_stops_nothing_and_a_retired_key_signs_nothing_served(
    platform: TestPlatform, served: Served
) -> None:
    """rotate -> the signer re-signs with the new key -> retire the old one: the champion
    answers every request throughout, and is then verified under the new key."""
    before = served.answering_version()
    rotated = platform.cli_json("signing", "rotate")
    old, new = rotated["old_key"], rotated["new_key"]
    assert rotated["signer_restarted"] and old != new
    answers: set[int] = set()
    deadline = time.monotonic() + 180
    retired = None
    while retired is None or retired.returncode != 0:
        assert time.monotonic() < deadline, f"old key never retirable: {retired and retired.stderr}"
        answers.add(_status_of_a_prediction(served))
        time.sleep(1)
        # Refused while an aliased version is still signed only by the old key.
        retired = platform.cli("signing", "retire", old[:12], "--json")
        assert retired.returncode in (0, 4), retired.stderr[-2000:]
    states = {row["key_id"]: row["state"] for row in platform.cli_json("signing", "keys")}
    assert states[old] == "retired" and states[new] == "active"
    deadline = time.monotonic() + 30
    status: dict[str, object] = {}
    while status.get("signed_by") != new:
        assert time.monotonic() < deadline, f"champion not verified under the new key: {status}"
        answers.add(_status_of_a_prediction(served))
        time.sleep(0.5)
        status = httpx.get(f"{served.url}/v1/status", headers=served.headers()).json()
    assert status["version"] == before and served.answering_version() == before
    assert answers == {200}


def _status_of_a_prediction(served: Served) -> int:
    return httpx.post(
        f"{served.url}/v1/predict", json={"texts": ["a fine film"]}, headers=served.headers()
    ).status_code
