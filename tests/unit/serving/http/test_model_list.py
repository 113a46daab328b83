"""GET /v1/models: every valid key may ask; each sees only the models it may call, with the
version served and the routes that reach it. Attack tests: no key, a key for another model
(sees nothing of this one), a model list that cannot be gathered (503, never 500).

Covers: serving/catalogue.py, the LISTING access of contracts/serve_api.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.serve_api import Access, resolve
from serving.catalogue import Catalogue, listed_members, listed_model, visible
from serving.config import ServeAppConfig
from serving.core import ServingCore
from serving.errors import ListingUnavailable
from serving.http import auth
from serving.http.api import build_api
from serving.http.auth import ApiKey, ClientKeyFile
from serving.http.middleware import Guards
from serving.metrics import NoMetrics
from serving.schemas import ListedModel
from tests.unit.serving.http.test_client_keys import OTHER_KEY, PLATFORM_KEY, SENTIMENT_KEY, _write
from tests.utils.bundles import make_bundle
from tests.utils.fake_registry import FakeRegistry

ALL_KEY = "a" * 40


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


@pytest.fixture
def app(tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(auth, "RELOAD_EVERY_S", 0.0)
    keys = tmp_path / "client-keys.json"
    _write(
        keys,
        (SENTIMENT_KEY, "", ("sentiment",)),
        (OTHER_KEY, "", ("subjectivity",)),
        (ALL_KEY, "", ("*",)),
    )
    registry = FakeRegistry(versions={"5": (built, True)}, alias="5")
    core = ServingCore(lambda: registry, tmp_path / "cache", NoMetrics())
    config = ServeAppConfig()
    core.configure(config)
    asyncio.run(core.lifecycle.refresh(config))

    async def platform() -> list[ListedModel]:  # as the default application gathers it
        return [
            core.listing(),
            listed_model("subjectivity", "3"),
            *listed_members("tenants", ["tenant-a"]),
        ]

    core.catalogue = Catalogue(platform)
    guards = Guards(
        api_key=ApiKey(PLATFORM_KEY.encode(), ClientKeyFile(str(keys))), model=config.model_name
    )
    return TestClient(build_api(core, guards))


def _listed(client: TestClient, key: str | None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = client.get("/v1/models", headers=headers)
    return answer.status_code, answer.json()


def test_the_list_names_each_model_its_version_and_routes(app: TestClient) -> None:
    status, body = _listed(app, PLATFORM_KEY)
    assert status == 200
    by_name = {m["name"]: m for m in body["models"]}
    assert list(by_name) == ["sentiment", "subjectivity", "tenant-a"]
    assert by_name["sentiment"]["version"] == "5" and by_name["sentiment"]["ready"]
    assert by_name["sentiment"]["routes"]["predict"] == "/v1/models/sentiment/predict"
    assert by_name["sentiment"]["routes"]["oip_infer"] == "/v2/models/sentiment/infer"
    assert by_name["tenant-a"]["family"] == "tenants"
    assert by_name["tenant-a"]["routes"] == {
        "predict": "/v1/family/tenant-a/predict",
        "feedback": "/v1/family/tenant-a/feedback",
    }
    # Each listed route answers (the one this app serves, called as listed).
    predict = app.post(
        by_name["sentiment"]["routes"]["predict"],
        json={"texts": ["fine"]},
        headers={"Authorization": f"Bearer {PLATFORM_KEY}"},
    )
    assert predict.status_code == 200


def test_each_key_sees_only_the_models_it_may_call(app: TestClient) -> None:
    assert [m["name"] for m in _listed(app, SENTIMENT_KEY)[1]["models"]] == ["sentiment"]
    # A key for another model only: allowed to ask, shown nothing of this application's.
    status, body = _listed(app, OTHER_KEY)
    assert status == 200 and [m["name"] for m in body["models"]] == ["subjectivity"]
    assert len(_listed(app, ALL_KEY)[1]["models"]) == 3


def test_no_key_or_a_wrong_one_is_refused(app: TestClient) -> None:
    assert _listed(app, None)[0] == 401
    assert _listed(app, "w" * 40)[0] == 401


def test_a_list_that_cannot_be_gathered_is_a_503_with_retry_after(
    tmp_path: Path, built: Path
) -> None:
    registry = FakeRegistry(versions={"5": (built, True)}, alias="5")
    core = ServingCore(lambda: registry, tmp_path / "cache", NoMetrics())
    core.configure(ServeAppConfig())

    async def unreachable() -> list[ListedModel]:
        raise ConnectionError("controller restarting")

    core.catalogue = Catalogue(unreachable)
    client = TestClient(build_api(core, Guards(api_key=ApiKey(PLATFORM_KEY.encode()))))
    answer = client.get("/v1/models", headers={"Authorization": f"Bearer {PLATFORM_KEY}"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert "cannot be listed" in answer.text


def test_the_catalogue_is_gathered_once_per_ttl_and_keeps_the_last_list_on_failure() -> None:
    now = [0.0]
    calls: list[float] = []
    failing = [False]

    async def discover() -> list[ListedModel]:
        calls.append(now[0])
        if failing[0]:
            raise ConnectionError("gone")
        return [listed_model("m", str(len(calls)))]

    catalogue = Catalogue(discover, ttl_s=2.0, clock=lambda: now[0])
    assert asyncio.run(catalogue.models())[0].version == "1"
    now[0] = 1.9
    assert asyncio.run(catalogue.models())[0].version == "1" and len(calls) == 1
    now[0], failing[0] = 2.0, True
    assert asyncio.run(catalogue.models())[0].version == "1" and len(calls) == 2
    with pytest.raises(ListingUnavailable):
        asyncio.run(Catalogue(discover).models())


def test_only_the_default_application_lists_and_only_at_the_exact_path() -> None:
    assert resolve("/v1/models", "", "sentiment") == resolve("/v1/models", "", "x")
    assert resolve("/v1/models", "", "sentiment").access is Access.LISTING  # type: ignore[union-attr]
    assert resolve("/v1/models/", "", "sentiment") is None
    assert resolve("/v1/models", "/v1/models/subjectivity", "subjectivity") is None


def test_visible_sorts_by_name() -> None:
    models = [listed_model("b", "1"), listed_model("a", None)]
    assert [m.name for m in visible(models, lambda name: True)] == ["a", "b"]
    assert visible(models, lambda name: False) == []


def test_one_discovery_at_a_time_and_a_slow_one_is_cut_off() -> None:
    """Clients asking at once share one gathering (each would cost Serve's controller calls
    and a thread); one that hangs is cut at its deadline, and with no list kept yet the
    next callers within the listing's lifetime are answered 503 at once."""
    calls: list[int] = []

    async def slow() -> list[ListedModel]:
        calls.append(1)
        await asyncio.sleep(0.2)
        return [listed_model("m", "1")]

    async def together() -> list[list[ListedModel]]:
        catalogue = Catalogue(slow)
        return await asyncio.gather(*(catalogue.models() for _ in range(5)))

    assert [len(models) for models in asyncio.run(together())] == [1] * 5 and len(calls) == 1

    hung: list[int] = []

    async def hangs() -> list[ListedModel]:
        hung.append(1)
        await asyncio.sleep(30)
        return []

    async def twice() -> None:
        catalogue = Catalogue(hangs, timeout_s=0.1)
        for _ in range(2):
            with pytest.raises(ListingUnavailable):
                await catalogue.models()

    started = time.monotonic()
    asyncio.run(twice())
    assert time.monotonic() - started < 2 and len(hung) == 1
