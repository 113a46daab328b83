"""A model family without Ray: members loaded exactly as a dedicated replica loads its model
(approved only, verified, self-checked), their files removed on eviction, and the ingress's
guards (members, key scopes, limits) in front of a fake hand-over to the shared replicas; its
request ids, payload log and feedback through a real drop keeper."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.client_keys import ClientKey, ClientKeys, key_digest
from contracts.request_ids import RequestIds
from registry import bundle
from serving.config import FamilyConfig
from serving.family_core import FamilyAnswer, FamilyMembers, NotServable
from serving.http.auth import ApiKey, ClientKeyFile
from serving.http.family_api import FamilyDrop, build_family_api
from serving.http.middleware import Guards
from serving.payload_log import DropSender, PayloadLog
from serving.predictor import ModelLoadError, Prediction
from tests.unit.serving.http.test_api import Recorded
from tests.utils.bundles import make_bundle
from tests.utils.drop import drain, running_keeper, written
from tests.utils.fake_registry import FakeRegistry

KEY = "k" * 32
TENANT = "t" * 40
CONFIG = FamilyConfig(
    members=["tenant-a", "tenant-b"], limits={"max_texts": 4}, payload_log={"inputs": "text"}
)


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


def test_a_held_member_follows_its_alias_and_never_to_a_refused_version(tmp_path, built) -> None:
    """A promotion reaches a member a shared replica holds (it once served the version it
    loaded until evicted); an unapproved or unusable version never replaces a served one."""
    broken = tmp_path / "broken"
    make_bundle(broken)
    (broken / bundle.MODEL_FP32).write_bytes(b"not a model")
    registry = FakeRegistry(
        versions={"3": (built, True), "4": (built, True), "5": (built, False), "6": (broken, True)},
        alias="3",
    )
    members = FamilyMembers(lambda: registry, tmp_path / "cache")
    held = members.load("tenant-a", CONFIG)
    first_folder = held.folder
    assert members.follow("tenant-a", held, CONFIG) is None, "nothing moved"
    registry.alias = "4"
    assert members.follow("tenant-a", held, CONFIG) == "4"
    assert held.predictor.info.version == "4" and held.folder.is_dir()
    assert not first_folder.exists(), "the old version's files went with the swap"
    registry.alias = "5"
    assert members.follow("tenant-a", held, CONFIG) is None
    assert held.predictor.info.version == "4" and registry.downloads == ["3", "4"]
    registry.alias = "6"
    with pytest.raises(ModelLoadError, match="bundle rejected"):
        members.follow("tenant-a", held, CONFIG)
    assert members.follow("tenant-a", held, CONFIG) is None, "refused once, not fetched again"
    assert registry.downloads == ["3", "4", "6"]
    assert held.predictor.info.version == "4"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [held.folder.name]


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
            200,
            version="7",
            precision="fp32",
            predictions=[prediction] * len(texts),
            labels=["fresh", "rotten"],
            load_ms=812.5,
        )


@pytest.fixture
def family(tmp_path: Path):  # type: ignore[no-untyped-def]
    keys = tmp_path / "client-keys.json"
    scoped = ClientKey(
        id="k-000000000001", name="tenant", sha256=key_digest(TENANT), models=("tenant-a",)
    )
    keys.write_text(ClientKeys(keys=[scoped]).model_dump_json())
    metrics = Recorded()
    guards = Guards(api_key=ApiKey(KEY.encode(), ClientKeyFile(str(keys))), metrics=metrics)
    shared = FakeShared()

    async def labels(model: str) -> list[str]:
        answer = await shared(model, [])
        return answer.labels

    with running_keeper(tmp_path) as (keeper, sock):
        log = PayloadLog(DropSender(str(keeper.settings.socket)))
        log.configure(CONFIG.payload_log)
        drop = FamilyDrop(RequestIds(b"z" * 32), log, labels)
        api = build_family_api(lambda: CONFIG, guards, shared, drop)

        def landed() -> list[dict]:
            log.flush()
            drain(keeper, sock)
            return written(keeper)

        # Serve hands the app the full path with the application's prefix as root_path.
        client = TestClient(api, root_path="/v1/family")
        yield client, shared, metrics, landed


def _post(client: TestClient, member: str, texts: list[str], key: str = KEY):  # type: ignore[no-untyped-def]
    return client.post(
        f"/v1/family/{member}/predict",
        json={"texts": texts},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_a_member_answers_with_its_version_and_load_time(family) -> None:
    client, shared, metrics, _ = family
    answer = _post(client, "tenant-a", ["a", "b"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == {
        "name": "tenant-a",
        "version": "7",
        "run_id": None,
        "precision": "fp32",
        "snapshot_digest": None,
    }
    assert [p["label"] for p in body["predictions"]] == ["fresh", "fresh"]
    assert answer.headers["x-model-version"] == "7"
    assert answer.headers["x-bulkhead-load-ms"] == "812.5"
    assert shared.calls == [("tenant-a", ["a", "b"])]
    assert ("/v1/family/predict", 200) in metrics.requests


def test_the_guards_stand_in_front_of_the_shared_replicas(family) -> None:
    client, shared, _, _ = family
    assert _post(client, "nobody", ["a"]).status_code == 404
    assert _post(client, "tenant-a", ["a"] * 5).status_code == 422
    assert _post(client, "tenant-a", ["a"], key="x" * 40).status_code == 401
    # A tenant's key calls its own member only.
    assert _post(client, "tenant-a", ["a"], key=TENANT).status_code == 200
    assert _post(client, "tenant-b", ["a"], key=TENANT).status_code == 403
    assert [model for model, _ in shared.calls] == ["tenant-a"], "refused before any hand-over"


def test_a_member_that_cannot_be_loaded_is_503_with_retry_after(family) -> None:
    client, _, _, _ = family
    answer = _post(client, "tenant-b", ["a"])
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "not approved" in answer.json()["detail"]


def _feedback(client: TestClient, member: str, request_id: str, label: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/v1/family/{member}/feedback",
        json={"request_id": request_id, "index": 0, "label": label},
        headers={"Authorization": f"Bearer {KEY}"},
    )


def test_a_member_answer_is_logged_and_its_feedback_lands_in_the_drop(family) -> None:
    """A family's answers carry request ids, are logged under the member's name, and take
    feedback exactly like a model's own application (the fix for family routes that had
    neither)."""
    client, _, metrics, landed = family
    answer = _post(client, "tenant-a", ["a fine film", "dull"])
    request_id = answer.json()["request_id"]
    assert request_id and answer.headers["x-bulkhead-request-id"] == request_id
    taken = _feedback(client, "tenant-a", request_id, "rotten")
    assert taken.status_code == 202, taken.text
    assert taken.json()["model"] == "tenant-a"
    records = landed()
    predictions = [r for r in records if r["kind"] == "prediction"]
    assert [(r["model"], r["version"], r["text"], r["label"]) for r in predictions] == [
        ("tenant-a", "7", "a fine film", "fresh"),
        ("tenant-a", "7", "dull", "fresh"),
    ]
    assert all(r["request_id"] == request_id for r in predictions)
    feedback = [r for r in records if r["kind"] == "feedback"]
    assert [(r["model"], r["request_id"], r["label"]) for r in feedback] == [
        ("tenant-a", request_id, "rotten")
    ]
    assert ("/v1/family/feedback", 202) in metrics.requests


def test_family_feedback_is_refused_like_any_model_s(family) -> None:
    client, _, _, landed = family
    request_id = _post(client, "tenant-a", ["a"]).json()["request_id"]
    assert _feedback(client, "tenant-a", request_id, "meh").status_code == 422
    made_up = (
        request_id[:-4] + "0000" if not request_id.endswith("0000") else request_id[:-4] + "1111"
    )
    assert _feedback(client, "tenant-a", made_up, "fresh").status_code == 404
    # An id issued for one member does not verify for another.
    other = _feedback(client, "tenant-b", request_id, "fresh")
    assert other.status_code == 404 and "issued per model" in other.text, other.text
    assert _feedback(client, "nobody", request_id, "fresh").status_code == 404
    unkeyed = client.post(
        "/v1/family/tenant-a/feedback",
        json={"request_id": request_id, "index": 0, "label": "fresh"},
    )
    assert unkeyed.status_code == 401
    assert [r for r in landed() if r["kind"] == "feedback"] == []
