"""The payload and feedback drop on the session platform: predictions and feedback sent by
the serve zone land, as the keeper validated them, where the ingest zone reads them; a stalled
drop costs records, never requests. (Who may read, write, send and delete: the attack matrix
in tests/security/test_zone_identities.py.)"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

from bulkhead.platform.identity import Role
from bulkhead.platform.state import PlatformState
from tests.utils.drop import records_of, wait_for_records
from tests.utils.platform import Served, TestPlatform

pytestmark = [pytest.mark.integration]


def test_predictions_and_feedback_reach_the_drop_as_the_keeper_checked_them(
    platform: TestPlatform, served: Served
) -> None:
    texts = ["a warm, funny and clever film", "a dull mess"]
    answer = httpx.post(f"{served.url}/v1/predict", json={"texts": texts}, headers=served.headers())
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["x-bulkhead-request-id"]
    body = answer.json()
    assert body["request_id"] == request_id
    label = body["predictions"][1]["label"]
    feedback = httpx.post(
        f"{served.url}/v1/feedback",
        json={"request_id": request_id, "index": 1, "label": label, "note": "checked by a person"},
        headers=served.headers(),
    )
    assert feedback.status_code == 202, feedback.text
    assert feedback.headers["x-bulkhead-request-id"] != request_id  # the feedback call's own id

    rows = wait_for_records(platform.paths.drop_records, request_id, 3)
    predictions = sorted((r for r in rows if r["kind"] == "prediction"), key=lambda r: r["index"])
    assert [r["text"] for r in predictions] == texts  # serve_config.yaml logs inputs
    assert {r["version"] for r in predictions} == {body["model"]["version"]}
    assert [r["label"] for r in predictions] == [p["label"] for p in body["predictions"]]
    (taken,) = [r for r in rows if r["kind"] == "feedback"]
    assert (taken["index"], taken["label"], taken["note"]) == (1, label, "checked by a person")

    state = PlatformState.load(platform.paths.state_file)
    files = sorted(platform.paths.drop_records.rglob("*.jsonl"))
    assert all(f.stat().st_mode & 0o777 == 0o640 for f in files)
    if state.identities is not None:  # as root: the keeper writes, the ingest group reads
        keeper, ingest = state.identities.of(Role.DROP), state.identities.of(Role.INGEST)
        assert {(f.stat().st_uid, f.stat().st_gid) for f in files} == {(keeper.uid, ingest.gid)}
    status = platform.cli_json("status")
    assert status["drop"]["pid"] and status["drop"]["records"] >= 3


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"request_id": "18c0000000a.aaaaaaaaaaaa.0123456789abcdef0123456789abcdef"}, 404),
        ({"label": "no such label"}, 422),
        ({"index": 9999}, 422),
        ({"unexpected": True}, 422),
    ],
)
def test_bad_feedback_is_refused_with_a_4xx_and_never_lands(
    platform: TestPlatform, served: Served, body: dict[str, Any], status: int
) -> None:
    answer = httpx.post(
        f"{served.url}/v1/predict", json={"texts": ["fine"]}, headers=served.headers()
    )
    request_id = answer.json()["request_id"]
    sent = {"request_id": request_id, "label": answer.json()["predictions"][0]["label"], **body}
    refused = httpx.post(f"{served.url}/v1/feedback", json=sent, headers=served.headers())
    assert refused.status_code == status, refused.text
    wait_for_records(platform.paths.drop_records, request_id, 1)  # the prediction landed...
    assert [
        r for r in records_of(platform.paths.drop_records, request_id) if r["kind"] == "feedback"
    ] == []


def test_feedback_needs_the_api_key(served: Served) -> None:
    refused = httpx.post(f"{served.url}/v1/feedback", json={"request_id": "x" * 20, "label": "a"})
    assert refused.status_code == 401


@pytest.mark.slow
def test_a_stalled_drop_costs_records_never_requests(
    platform: TestPlatform, served: Served
) -> None:
    done = platform.cli("chaos", "--scenario", "drop-stalled", "--json", timeout=300)
    (result,) = json.loads(done.stdout)
    print(
        f"\ndrop-stalled: {result['requests']} requests, {result['failed']} failed; "
        f"{result['detail']}"
    )
    assert result["failed"] == 0, result
    assert result["verdict"] == "pass", result
    assert "dropped and counted" in result["detail"]
    assert os.path.isdir(platform.paths.drop_records)


@pytest.mark.slow
def test_a_full_drop_refuses_feedback_with_503_and_loses_no_acknowledged_record(
    platform: TestPlatform, served: Served
) -> None:
    """202 means kept: with the keeper's feedback share full, every feedback call under load
    is a 503 with Retry-After, every 202 (before and after) is a record in the drop."""
    done = platform.cli("chaos", "--scenario", "drop-full", "--json", timeout=300)
    (result,) = json.loads(done.stdout)
    print(
        f"\ndrop-full: {result['requests']} requests, {result['failed']} failed; {result['detail']}"
    )
    assert result["verdict"] == "pass", result
    assert result["failed"] == 0, result
    assert " 0 of them missing from the drop" in result["detail"], result
    assert not (platform.paths.drop_records / "_chaos-drop-full").exists()
