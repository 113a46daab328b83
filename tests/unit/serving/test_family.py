"""A model family without Ray: members loaded exactly as a dedicated replica loads its model
(approved only, verified, self-checked), their files removed on eviction, and the ingress's
guards (members, key scopes, limits) in front of a fake hand-over to the shared replicas."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.client_keys import ClientKey, ClientKeys, key_digest
from registry import bundle
from serving.config import FamilyConfig
from serving.family_core import FamilyAnswer, FamilyMembers, NotServable
from serving.http.auth import ApiKey, ClientKeyFile
from serving.http.family_api import build_family_api
from serving.http.middleware import Guards
from serving.predictor import Prediction
from tests.unit.serving.http.test_api import Recorded
from tests.utils.bundles import make_bundle
from tests.utils.fake_registry import FakeRegistry

KEY = "k" * 32
TENANT = "t" * 40
CONFIG = FamilyConfig(members=["tenant-a", "tenant-b"], limits={"max_texts": 4})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


def test_a_member_is_loaded_verified_and_its_files_go_when_evicted(tmp_path, built) -> None:
    registry = FakeRegistry(versions={"3": (built, True)}, alias="3")
    members = FamilyMembers(lambda: registry, tmp_path / "cache")
    loaded = members.load("tenant-a", CONFIG)
    assert loaded.predictor.info.version == "3" and loaded.predictor.info.name == "tenant-a"
    assert loaded.predictor.predict(["a fine film"])[0].label
    assert loaded.folder.is_dir() and loaded.folder.is_relative_to(tmp_path / "cache")
    loaded.__del__()  # what Serve's LRU calls when it evicts the member
    assert not loaded.folder.exists()


def test_an_unapproved_member_is_refused_before_any_download(tmp_path, built) -> None:
    registry = FakeRegistry(versions={"3": (built, False)}, alias="3")
    members = FamilyMembers(lambda: registry, tmp_path / "cache")
    with pytest.raises(NotServable, match="not approved"):
        members.load("tenant-a", CONFIG)
    assert registry.downloads == []


def test_a_member_that_fails_verification_leaves_no_files(tmp_path, built) -> None:
    broken = tmp_path / "broken"
    make_bundle(broken)
    (broken / bundle.MODEL_FP32).write_bytes(b"not a model")
    registry = FakeRegistry(versions={"3": (broken, True)}, alias="3")
    members = FamilyMembers(lambda: registry, tmp_path / "cache")
    with pytest.raises(Exception, match=r"(?i)digest|model"):
        members.load("tenant-a", CONFIG)
    assert not any((tmp_path / "cache").iterdir())


class FakeShared:
    """The shared replicas: answer, or refuse the way a replica that cannot load does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    async def __call__(self, model: str, texts: list[str]) -> FamilyAnswer:
        self.calls.append((model, texts))
        if model == "tenant-b":
            return FamilyAnswer(503, "model 'tenant-b' v2 not approved", {"Retry-After": "5"})
        prediction = Prediction("fresh", 0.75, {"fresh": 0.75, "rotten": 0.25})
        return FamilyAnswer(
            200, version="7", precision="fp32", predictions=[prediction] * len(texts), load_ms=812.5
        )


@pytest.fixture
def family(tmp_path: Path) -> tuple[TestClient, FakeShared, Recorded]:
    keys = tmp_path / "client-keys.json"
    scoped = ClientKey(
        id="k-000000000001", name="tenant", sha256=key_digest(TENANT), models=("tenant-a",)
    )
    keys.write_text(ClientKeys(keys=[scoped]).model_dump_json())
    metrics = Recorded()
    guards = Guards(api_key=ApiKey(KEY.encode(), ClientKeyFile(str(keys))), metrics=metrics)
    shared = FakeShared()
    api = build_family_api(lambda: CONFIG, guards, shared)
    # Serve hands the app the full path with the application's prefix as root_path.
    return TestClient(api, root_path="/v1/family"), shared, metrics


def _post(client: TestClient, member: str, texts: list[str], key: str = KEY):  # type: ignore[no-untyped-def]
    return client.post(
        f"/v1/family/{member}/predict",
        json={"texts": texts},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_a_member_answers_with_its_version_and_load_time(family) -> None:
    client, shared, metrics = family
    answer = _post(client, "tenant-a", ["a", "b"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == {
        "name": "tenant-a",
        "version": "7",
        "run_id": None,
        "precision": "fp32",
    }
    assert [p["label"] for p in body["predictions"]] == ["fresh", "fresh"]
    assert answer.headers["x-model-version"] == "7"
    assert answer.headers["x-bulkhead-load-ms"] == "812.5"
    assert shared.calls == [("tenant-a", ["a", "b"])]
    assert ("/v1/family/predict", 200) in metrics.requests


def test_the_guards_stand_in_front_of_the_shared_replicas(family) -> None:
    client, shared, _ = family
    assert _post(client, "nobody", ["a"]).status_code == 404
    assert _post(client, "tenant-a", ["a"] * 5).status_code == 422
    assert _post(client, "tenant-a", ["a"], key="x" * 40).status_code == 401
    # A tenant's key calls its own member only.
    assert _post(client, "tenant-a", ["a"], key=TENANT).status_code == 200
    assert _post(client, "tenant-b", ["a"], key=TENANT).status_code == 403
    assert [model for model, _ in shared.calls] == ["tenant-a"], "refused before any hand-over"


def test_a_member_that_cannot_be_loaded_is_503_with_retry_after(family) -> None:
    client, _, _ = family
    answer = _post(client, "tenant-b", ["a"])
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "not approved" in answer.json()["detail"]
