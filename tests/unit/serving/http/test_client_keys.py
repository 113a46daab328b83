"""Per-client keys in one replica's app: scoped to models, re-read without a restart, and
every other key still refused. Attack tests: a key for another model, a revoked key, a
corrupted file, a key's digest sent as the key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.client_keys import ClientKey, ClientKeys, key_digest
from serving.config import ServeAppConfig
from serving.core import ServingCore
from serving.http import auth
from serving.http.api import build_api
from serving.http.auth import ApiKey, ClientKeyFile
from serving.http.middleware import Guards
from serving.metrics import NoMetrics
from tests.utils.bundles import make_bundle
from tests.utils.fake_registry import FakeRegistry

PLATFORM_KEY = "p" * 32
SENTIMENT_KEY = "s" * 40
OTHER_KEY = "o" * 40


def _write(path: Path, *keys: tuple[str, str, tuple[str, ...]]) -> None:
    store = ClientKeys(
        keys=[
            ClientKey(id=f"k-{i:012x}", name=f"client{i}", sha256=key_digest(key), models=models)
            for i, (key, _, models) in enumerate(keys)
        ]
    )
    path.write_text(store.model_dump_json())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


@pytest.fixture
def app(tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, Path]:
    monkeypatch.setattr(auth, "RELOAD_EVERY_S", 0.0)  # every request looks at the file
    keys = tmp_path / "client-keys.json"
    _write(keys, (SENTIMENT_KEY, "", ("sentiment",)), (OTHER_KEY, "", ("subjectivity",)))
    registry = FakeRegistry(versions={"5": (built, True)}, alias="5")
    core = ServingCore(lambda: registry, tmp_path / "cache", NoMetrics())
    config = ServeAppConfig()
    core.configure(config)
    asyncio.run(core.lifecycle.refresh(config))
    guards = Guards(
        api_key=ApiKey(PLATFORM_KEY.encode(), ClientKeyFile(str(keys))), model=config.model_name
    )
    return TestClient(build_api(core, guards)), keys


def _predict(client: TestClient, key: str, path: str = "/v1/predict") -> int:
    answer = client.post(path, json={"texts": ["fine"]}, headers={"Authorization": f"Bearer {key}"})
    return answer.status_code


def test_a_client_key_calls_the_models_in_its_scope_only(app: tuple[TestClient, Path]) -> None:
    client, _ = app
    assert _predict(client, PLATFORM_KEY) == 200  # the operator's key: every model
    assert _predict(client, SENTIMENT_KEY) == 200
    assert _predict(client, SENTIMENT_KEY, "/v1/models/sentiment/predict") == 200
    refused = client.post(
        "/v1/predict", json={"texts": ["x"]}, headers={"Authorization": f"Bearer {OTHER_KEY}"}
    )
    assert refused.status_code == 403 and "may not call model 'sentiment'" in refused.text
    assert _predict(client, OTHER_KEY, "/v1/models/sentiment/predict") == 403
    infer = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}
    oip = client.post(
        "/v2/models/sentiment/infer", json=infer, headers={"Authorization": f"Bearer {OTHER_KEY}"}
    )
    assert oip.status_code == 403
    assert (
        client.get("/v1/status", headers={"Authorization": f"Bearer {OTHER_KEY}"}).status_code
        == 403
    )


def test_added_and_revoked_keys_take_effect_without_a_restart(app: tuple[TestClient, Path]) -> None:
    client, keys = app
    new = "n" * 40
    assert _predict(client, new) == 401
    _write(keys, (SENTIMENT_KEY, "", ("sentiment",)), (new, "", ("*",)))
    assert _predict(client, new) == 200
    _write(keys, (new, "", ("*",)))  # SENTIMENT_KEY revoked
    assert _predict(client, SENTIMENT_KEY) == 401


def test_what_is_not_a_live_key_is_refused(app: tuple[TestClient, Path]) -> None:
    client, keys = app
    assert _predict(client, key_digest(SENTIMENT_KEY)) == 401  # the stored digest is no key
    assert _predict(client, SENTIMENT_KEY[:-1]) == 401
    keys.write_text("{not json")  # a corrupted file: no client key, the platform key still
    assert _predict(client, SENTIMENT_KEY) == 401
    assert _predict(client, PLATFORM_KEY) == 200
    keys.unlink()
    assert _predict(client, SENTIMENT_KEY) == 401


def test_the_file_is_read_at_most_once_per_interval(tmp_path: Path) -> None:
    now = [0.0]
    keys = tmp_path / "k.json"
    _write(keys, (SENTIMENT_KEY, "", ("*",)))
    store = ClientKeyFile(str(keys), clock=lambda: now[0])
    assert store.lookup(SENTIMENT_KEY) is not None
    keys.write_text(ClientKeys().model_dump_json())
    now[0] = auth.RELOAD_EVERY_S / 2
    assert store.lookup(SENTIMENT_KEY) is not None  # not looked at yet
    now[0] = auth.RELOAD_EVERY_S
    assert store.lookup(SENTIMENT_KEY) is None
