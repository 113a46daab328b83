"""OIP v2 for another model: the default model's application hands the call to that
model's application (a fake peer here), relays its refusals as they are, and checks a client
key's scope against the model the path names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.client_keys import ClientKey, ClientKeys, key_digest
from serving.config import ServeAppConfig
from serving.core import ServingCore
from serving.http.api import build_api
from serving.http.auth import ApiKey, ClientKeyFile
from serving.http.middleware import Guards
from serving.metrics import NoMetrics
from serving.peers import PeerAnswer, PeerOp
from serving.predictor import Prediction
from tests.utils.bundles import make_bundle
from tests.utils.fake_registry import FakeRegistry

KEY = "k" * 32
TENANT = "t" * 40
INFER = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}
LABELS = ["objective", "subjective"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


class FakePeers:
    """``subjectivity`` answers; ``cold`` has no model yet; nothing else exists."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, PeerOp, list[str], str | None]] = []
        self.request_ids: list[str | None] = []

    async def __call__(
        self,
        model: str,
        op: PeerOp,
        texts: list[str],
        client_key: str | None,
        version: str | None = None,
        request_id: str | None = None,
    ) -> PeerAnswer:
        self.calls.append((model, op, texts, client_key))
        self.request_ids.append(request_id)
        if model == "cold":
            return PeerAnswer(503, "no model loaded yet", {"Retry-After": "5"})
        if model != "subjectivity":
            return PeerAnswer(404, f"model {model!r} is not served")
        predictions = [Prediction("subjective", 0.75, {"objective": 0.25, "subjective": 0.75})]
        return PeerAnswer(200, version="3", labels=LABELS, predictions=predictions * len(texts))


@pytest.fixture
def app(tmp_path: Path, built: Path) -> tuple[TestClient, FakePeers]:
    keys = tmp_path / "client-keys.json"
    scoped = ClientKey(
        id="k-000000000001", name="tenant", sha256=key_digest(TENANT), models=("subjectivity",)
    )
    keys.write_text(ClientKeys(keys=[scoped]).model_dump_json())
    registry = FakeRegistry(versions={"5": (built, True)}, alias="5")
    core = ServingCore(lambda: registry, tmp_path / "cache", NoMetrics())
    config = ServeAppConfig()
    core.configure(config)
    asyncio.run(core.lifecycle.refresh(config))
    peers = FakePeers()
    core.peer = peers
    guards = Guards(api_key=ApiKey(KEY.encode(), ClientKeyFile(str(keys))), model="sentiment")
    return TestClient(build_api(core, guards)), peers


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_another_models_infer_is_answered_by_its_application(app) -> None:
    client, peers = app
    answer = client.post("/v2/models/subjectivity/infer", json=INFER, headers=_auth())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_name"] == "subjectivity" and body["model_version"] == "3"
    assert body["outputs"][0]["data"] == ["subjective"]
    assert answer.headers["x-model-version"] == "3"
    assert peers.calls == [("subjectivity", "infer", ["x"], None)]
    meta = client.get("/v2/models/subjectivity", headers=_auth()).json()
    assert meta["versions"] == ["3"] and meta["outputs"][2]["shape"] == [-1, 2]
    # The own model never leaves the replica.
    assert client.post("/v2/models/sentiment/infer", json=INFER, headers=_auth()).status_code == 200
    assert len(peers.calls) == 2


def test_a_peers_refusal_is_relayed_as_it_is(app) -> None:
    client, _ = app
    cold = client.post("/v2/models/cold/infer", json=INFER, headers=_auth())
    assert cold.status_code == 503 and cold.headers["retry-after"] == "5"
    assert client.get("/v2/models/cold/ready", headers=_auth()).status_code == 503
    missing = client.post("/v2/models/nope/infer", json=INFER, headers=_auth())
    assert missing.status_code == 404 and "'nope' is not served" in missing.json()["error"]


def test_a_scoped_key_is_checked_against_the_model_the_path_names(app) -> None:
    client, peers = app
    own = client.post("/v2/models/subjectivity/infer", json=INFER, headers=_auth(TENANT))
    assert own.status_code == 200
    other = client.post("/v2/models/sentiment/infer", json=INFER, headers=_auth(TENANT))
    assert other.status_code == 403 and "'sentiment'" in other.json()["error"]
    assert (
        client.post("/v1/predict", json={"texts": ["x"]}, headers=_auth(TENANT)).status_code == 403
    )
    assert [c[0] for c in peers.calls] == ["subjectivity"]


def test_a_scoped_key_cannot_reach_another_model_through_a_nested_path(app) -> None:
    """Found by review: a key for subjectivity answered 200 with sentiment's prediction at
    /v1/models/subjectivity/v2/models/sentiment/infer (scope checked on the first name, the
    route answered for the second). A model's application mounts only its own routes now."""
    client, peers = app
    mounted = TestClient(client.app, root_path="/v1/models/subjectivity")
    for path in (
        "/v1/models/subjectivity/v2/models/sentiment/infer",
        "/v1/models/subjectivity/v2/models/subjectivity/infer",
        "/v1/models/subjectivity/v1/predict",
        "/v1/models/subjectivity/v1/models/sentiment/predict",
    ):
        body = {"texts": ["x"]} if "/v1/" in path[len("/v1/models/subjectivity") :] else INFER
        for key in (TENANT, KEY):
            answer = mounted.post(path, json=body, headers=_auth(key))
            assert answer.status_code == 404, (path, answer.status_code, answer.text)
    assert peers.calls == []


def test_another_models_answer_is_logged_by_its_own_application(app) -> None:
    """The request id travels with the hand-over, so the peer logs the call under its own
    payload-log policy; the receiving replica logs nothing for it."""
    client, peers = app
    answer = client.post("/v2/models/subjectivity/infer", json=INFER, headers=_auth())
    assert answer.status_code == 200
    assert peers.request_ids == [answer.headers["x-bulkhead-request-id"]]
