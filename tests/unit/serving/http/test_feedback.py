"""Feedback and request ids through one replica's real app (no Ray), with a real keeper."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.request_ids import RequestIds
from drop.keeper import Keeper
from serving.config import ServeAppConfig
from serving.core import ServingCore
from serving.http.api import build_api
from serving.http.auth import ApiKey
from serving.http.middleware import Guards
from serving.metrics import NoMetrics
from serving.payload_log import DropSender, PayloadLog
from tests.utils.bundles import make_bundle
from tests.utils.drop import drain, running_keeper, written
from tests.utils.fake_registry import FakeRegistry

KEY = "k" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


@pytest.fixture
def replica(tmp_path: Path, built: Path):
    with running_keeper(tmp_path) as (keeper, sock):
        yield _replica(tmp_path, built, keeper, sock)


def _replica(tmp_path: Path, built: Path, keeper: Keeper, sock: socket.socket):
    registry = FakeRegistry(versions={"5": (built, True)}, alias="5")
    core = ServingCore(lambda: registry, tmp_path / "cache", NoMetrics())
    core.payload_log = PayloadLog(DropSender(str(keeper.settings.socket)))
    core.request_ids = RequestIds(b"z" * 32)
    config = ServeAppConfig.model_validate({"payload_log": {"inputs": "text"}})
    core.configure(config)
    asyncio.run(core.lifecycle.refresh(config))
    guards = Guards(api_key=ApiKey(KEY.encode()), model="sentiment")
    client = TestClient(build_api(core, guards))

    def landed() -> list[dict]:
        core.payload_log.flush()
        drain(keeper, sock)
        return written(keeper)

    return client, core, landed


def test_every_response_carries_a_request_id_refusals_too(replica) -> None:
    client, _, _ = replica
    ok = client.post("/v1/predict", json={"texts": ["a fine film"]}, headers=AUTH)
    refused = client.post("/v1/predict", json={"texts": ["x"]})
    health = client.get("/healthz")
    ids = [r.headers["x-bulkhead-request-id"] for r in (ok, refused, health)]
    assert refused.status_code == 401 and len(set(ids)) == 3
    assert ok.json()["request_id"] == ids[0]


def test_a_prediction_and_its_feedback_land_in_the_drop(replica) -> None:
    client, core, landed = replica
    answer = client.post("/v1/predict", json={"texts": ["a fine film", "dull"]}, headers=AUTH)
    request_id = answer.json()["request_id"]
    label = core.model().labels[0]
    taken = client.post(
        "/v1/feedback",
        json={"request_id": request_id, "index": 1, "label": label, "note": "checked"},
        headers=AUTH,
    )
    assert taken.status_code == 202, taken.text
    assert taken.json() == {
        "request_id": request_id,
        "index": 1,
        "model": "sentiment",
        "label": label,
    }
    named = client.post(
        "/v1/models/sentiment/feedback",
        json={"request_id": request_id, "label": label},
        headers=AUTH,
    )
    assert named.status_code == 202, named.text
    rows = landed()
    predictions = [r for r in rows if r["kind"] == "prediction"]
    feedback = [r for r in rows if r["kind"] == "feedback"]
    assert [(r["request_id"], r["index"], r["text"]) for r in predictions] == [
        (request_id, 0, "a fine film"),
        (request_id, 1, "dull"),
    ]
    assert predictions[0]["version"] == "5"
    assert [(r["index"], r["label"], r["note"]) for r in feedback] == [
        (1, label, "checked"),
        (0, label, None),
    ]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"request_id": "18c0000000a.aaaaaaaaaaaa.deadbeef", "label": "L"}, 404, "unknown"),
        ({"request_id": "not-an-id-of-ours", "label": "L"}, 404, "unknown"),
        # Non-ASCII: hmac.compare_digest raises TypeError on it (was a 500).
        ({"request_id": "18c0000000a.aaaaaaaaaaaa.deadbeeé", "label": "L"}, 404, "unknown"),
        ({"request_id": "ID", "label": "no such label"}, 422, "not one of"),
        ({"request_id": "ID", "label": "L", "index": 64}, 422, "at most"),
        ({"request_id": "ID", "label": "L", "index": -1}, 422, "index"),
        ({"request_id": "ID", "label": "L", "note": "x" * 501}, 422, "note"),
        ({"request_id": "ID", "label": "L", "extra": 1}, 422, "extra"),
        ({"label": "L"}, 422, "request_id"),
    ],
)
def test_bad_feedback_gets_a_clear_4xx_and_lands_nowhere(replica, body, status, says) -> None:
    client, core, landed = replica
    answer = client.post("/v1/predict", json={"texts": ["a fine film"]}, headers=AUTH)
    filled = {
        k: (answer.json()["request_id"] if v == "ID" else core.model().labels[0] if v == "L" else v)
        for k, v in body.items()
    }
    refused = client.post("/v1/feedback", json=filled, headers=AUTH)
    assert refused.status_code == status, refused.text
    assert says in refused.text
    assert [r for r in landed() if r["kind"] == "feedback"] == []


def test_feedback_needs_the_key_and_a_reachable_drop(replica, tmp_path: Path) -> None:
    client, core, _ = replica
    request_id = client.post("/v1/predict", json={"texts": ["x y"]}, headers=AUTH).json()[
        "request_id"
    ]
    body = {"request_id": request_id, "label": core.model().labels[0]}
    assert client.post("/v1/feedback", json=body).status_code == 401
    core.payload_log.sender = DropSender(str(tmp_path / "gone" / "drop.sock"))
    unavailable = client.post("/v1/feedback", json=body, headers=AUTH)
    assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "5"
    assert "try again" in unavailable.text


def test_202_means_the_keeper_has_it_full_means_503_and_a_flood_means_429(
    tmp_path: Path, built: Path
) -> None:
    """Found by review: 202 was answered once the datagram was queued; a full drop went on
    refusing every record while clients still got 202."""
    with running_keeper(tmp_path, feedback_max_bytes=1024) as (keeper, sock):
        client, core, _ = _replica(tmp_path, built, keeper, sock)
        request_id = client.post("/v1/predict", json={"texts": ["x"]}, headers=AUTH).json()[
            "request_id"
        ]
        body = {"request_id": request_id, "label": core.model().labels[0]}
        statuses = [client.post("/v1/feedback", json=body, headers=AUTH) for _ in range(30)]
        codes = [s.status_code for s in statuses]
        accepted = codes.count(202)
        on_disk = [r for r in written(keeper) if r["kind"] == "feedback"]
        assert accepted == len(on_disk) > 0  # every 202 is a record the keeper wrote
        full = [s for s in statuses if s.status_code == 503]
        assert full and all(s.headers["retry-after"] == "60" for s in full)
        assert "try again later" in full[0].json()["detail"]
        assert set(codes) <= {202, 503, 429}
    # Per client key: 20 records/s with bursts of 40 to a replica, 429 with Retry-After
    # beyond; the platform key (the operator's tools) is not limited.
    from serving.feedback import FeedbackRate
    from serving.http.errors import TooManyFeedback

    now = [0.0]
    rate = FeedbackRate(clock=lambda: now[0])
    taken = 0
    for _ in range(60):
        try:
            rate.take("k-000000000001", 20)
            taken += 1
        except TooManyFeedback as err:
            assert err.headers["Retry-After"] == "1"
    assert taken == 40
    now[0] = 1.0
    rate.take("k-000000000001", 20)  # 20 more a second later
    rate.take("k-000000000002", 20)  # another key has its own bucket
    for _ in range(100):
        rate.take(None, 20)
    slow = FeedbackRate(clock=lambda: now[0])
    slow.take("k-000000000003", 0.1)  # a rate under 0.5/s still lets one through
