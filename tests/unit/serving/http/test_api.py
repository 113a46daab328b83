"""One replica's HTTP app in-process (no Ray, no server): a real bundle behind the real
middleware and routers, and every answer counted by route and status."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.config import ServeAppConfig
from serving.core import ServingCore
from serving.http.api import build_api
from serving.http.auth import ApiKey
from serving.http.middleware import Guards
from serving.metrics import NoMetrics
from tests.utils.bundles import make_bundle
from tests.utils.fake_registry import SNAPSHOT, FakeRegistry

KEY = "k" * 32


@dataclass
class Recorded(NoMetrics):
    requests: list[tuple[str, int]] = field(default_factory=list)

    def request(self, route: str, status: int, latency_ms: float) -> None:
        self.requests.append((route, status))

    def swapped(self, version: str) -> None:
        pass

    def swap_failed(self, reason: str) -> None:
        pass


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


def _app(tmp_path: Path, built: Path, *, loaded: bool = True) -> tuple[TestClient, Recorded]:
    metrics = Recorded()
    registry = FakeRegistry(versions={"5": (built, True)}, alias="5")
    core = ServingCore(lambda: registry, tmp_path / "cache", metrics)
    config = ServeAppConfig.model_validate({"limits": {"max_texts": 4, "max_body_bytes": 4096}})
    core.configure(config)
    if loaded:
        asyncio.run(core.lifecycle.refresh(config))
    guards = Guards(max_body_bytes=4096, api_key=ApiKey(KEY.encode()), metrics=metrics)
    return TestClient(build_api(core, guards)), metrics


def test_a_prediction_names_its_version_and_where_the_time_went(tmp_path, built) -> None:
    client, metrics = _app(tmp_path, built)
    answer = client.post(
        "/v1/predict", json={"texts": ["a fine film"]}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-model-version"] == "5"
    assert answer.headers["server-timing"].startswith("infer;dur=")
    assert answer.json()["model"]["version"] == "5"
    # From one answer back to the data: the snapshot its verified signature binds.
    assert answer.json()["model"]["snapshot_digest"] == SNAPSHOT
    assert ("/v1/predict", 200) in metrics.requests


def test_every_refusal_gets_its_status_and_is_counted(tmp_path, built) -> None:
    client, metrics = _app(tmp_path, built)
    auth = {"Authorization": f"Bearer {KEY}"}
    assert client.post("/v1/predict", json={"texts": ["x"]}).status_code == 401
    assert client.post("/v1/predict", json={"texts": ["x"] * 5}, headers=auth).status_code == 422
    assert client.post("/v1/predict", json={"texts": [" "]}, headers=auth).status_code == 422
    big = {"texts": ["x" * 5000]}
    assert client.post("/v1/predict", json=big, headers=auth).status_code == 413
    oip = {"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["a"]}]}
    assert client.post("/v2/models/sentiment/infer", json=oip, headers=auth).status_code == 400
    assert client.get("/v2/models/other", headers=auth).status_code == 404
    assert client.get("/no/such/route").status_code == 404
    assert metrics.requests.count(("/v1/predict", 401)) == 1  # the gate counts what it refuses
    assert metrics.requests.count(("/v1/predict", 422)) == 2
    assert ("/v1/predict", 413) in metrics.requests
    assert ("/v2/infer", 400) in metrics.requests
    assert ("/v2/models", 404) in metrics.requests


def test_without_a_model_readiness_says_whether_and_predictions_say_retry(tmp_path, built) -> None:
    client, metrics = _app(tmp_path, built, loaded=False)
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503 and ready.json() == {
        "ready": False,
        "reason": "no verified model yet",
    }
    answer = client.post(
        "/v1/predict", json={"texts": ["x"]}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert ("/v2/health/ready", 503) in metrics.requests
    assert ("/v1/predict", 503) in metrics.requests


def test_random_paths_share_one_metrics_label(tmp_path, built) -> None:
    client, metrics = _app(tmp_path, built)
    for i in range(20):
        client.get(f"/v1/x{i}")  # needs the key: refused by the gate
    assert {route for route, _ in metrics.requests} == {"other"}


def test_a_request_that_asks_gets_every_hop_of_its_path(tmp_path, built) -> None:
    import time

    from contracts.serve_api import HOPS, SENT_AT_HEADER

    client, _ = _app(tmp_path, built)
    auth = {"Authorization": f"Bearer {KEY}"}
    plain = client.post("/v1/predict", json={"texts": ["a fine film"]}, headers=auth)
    assert "hop-" not in plain.headers["server-timing"]  # nobody asked: nothing recorded
    sent = time.time_ns()
    timed = client.post(
        "/v1/predict",
        json={"texts": ["a fine film"]},
        headers={**auth, SENT_AT_HEADER: str(sent)},
    )
    assert timed.status_code == 200
    entries = dict(
        part.strip().split(";dur=") for part in timed.headers["server-timing"].split(",")
    )
    hops = {name.removeprefix("hop-"): float(ms) for name, ms in entries.items() if "hop-" in name}
    assert list(hops) == list(HOPS)
    assert all(ms >= 0 for ms in hops.values())
    assert hops["infer"] > 0 and hops["tokenize"] > 0
    # The hops happened inside this round trip: together they cannot exceed it.
    assert sum(hops.values()) <= (time.time_ns() - sent) / 1e6


@pytest.mark.parametrize("sent", ["9" * 310, "9" * 20, "9" * 5000, "-5", "12.5", ""])
def test_an_implausible_sent_at_header_is_ignored_not_a_500(tmp_path, built, sent) -> None:
    """310 digits overflowed the float the ingress hop is computed in: a 500 on any route."""
    from contracts.serve_api import SENT_AT_HEADER

    client, _ = _app(tmp_path, built)
    headers = {"Authorization": f"Bearer {KEY}", SENT_AT_HEADER: sent}
    for answer in (
        client.post("/v1/predict", json={"texts": ["a fine film"]}, headers=headers),
        client.get("/v2/health/ready", headers=headers),
    ):
        assert answer.status_code == 200, answer.text
        assert "hop-" not in answer.headers.get("server-timing", "")


def test_a_model_answers_under_its_own_name_and_refuses_others(tmp_path, built) -> None:
    client, _ = _app(tmp_path, built)
    auth = {"Authorization": f"Bearer {KEY}"}
    named = client.post("/v1/models/sentiment/predict", json={"texts": ["fine"]}, headers=auth)
    assert named.status_code == 200 and named.json()["model"]["version"] == "5"
    other = client.post("/v1/models/spam/predict", json={"texts": ["fine"]}, headers=auth)
    assert other.status_code == 404 and "'spam' is not served here" in other.json()["detail"]
    assert client.get("/v1/models/sentiment/status", headers=auth).json()["version"] == "5"
    # Readiness is open, per model too; prediction needs the key on every path.
    ready = client.get("/v1/models/sentiment/ready")
    assert ready.status_code == 200 and ready.json()["model_version"] == "5"
    assert client.get("/v1/models/spam/ready").status_code == 404
    assert client.post("/v1/models/sentiment/predict", json={"texts": ["x"]}).status_code == 401


def test_a_model_application_mounted_at_its_prefix_answers_there(tmp_path, built) -> None:
    """Serve keeps the full path and sets root_path to the application's route prefix."""
    client, _ = _app(tmp_path, built)
    mounted = TestClient(client.app, root_path="/v1/models/sentiment")
    auth = {"Authorization": f"Bearer {KEY}"}
    answer = mounted.post("/v1/models/sentiment/predict", json={"texts": ["fine"]}, headers=auth)
    assert answer.status_code == 200, answer.text
    refused = mounted.post("/v1/models/sentiment/predict", json={"texts": ["fine"]})
    assert refused.status_code == 401
    assert mounted.get("/v1/models/sentiment/ready").status_code == 200


def test_readiness_of_a_model_without_a_verified_version_is_503(tmp_path, built) -> None:
    client, _ = _app(tmp_path, built, loaded=False)
    assert client.get("/v1/models/sentiment/ready").status_code == 503


def test_a_predict_before_any_model_tells_the_client_what_to_do_not_the_registrys_insides(
    tmp_path, built
) -> None:
    """Found by review: the 503 handed the client the registry's internal URL and the
    exception's text. The reason stays on /v1/status; the client gets a plain one."""
    registry = FakeRegistry(versions={"5": (built, True)}, alias="5")
    core = ServingCore(lambda: registry, tmp_path / "cache", Recorded())
    core.configure(ServeAppConfig())
    core.lifecycle.last_error = (
        "v1 could not be fetched: MlflowException: API request to http://127.0.0.1:5000/"
    )
    client = TestClient(build_api(core, Guards(api_key=ApiKey(KEY.encode()))))
    auth = {"Authorization": f"Bearer {KEY}"}
    answer = client.post("/v1/predict", json={"texts": ["x"]}, headers=auth)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    detail = answer.json()["detail"]
    assert "no model loaded yet" in detail
    assert "http" not in detail and "Exception" not in detail and "127.0.0.1" not in detail
