"""The model lifecycle without Ray: a fake registry, real bundles, a fake clock."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from registry import bundle
from registry.reader import ResolvedVersion
from serving.config import ServeAppConfig
from serving.lifecycle import QUICK_RETRIES, ModelLifecycle
from serving.metrics import NoMetrics
from tests.utils.bundles import make_bundle
from tests.utils.fake_registry import FakeRegistry, sign_folder


@dataclass
class CountingMetrics(NoMetrics):
    swaps: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def request(self, route: str, status: int, latency_ms: float) -> None:
        pass

    def swapped(self, version: str) -> None:
        self.swaps.append(version)

    def swap_failed(self, reason: str) -> None:
        self.failures.append(reason)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


@pytest.fixture
def setup(
    built: Path, tmp_path: Path
) -> tuple[FakeRegistry, ModelLifecycle, CountingMetrics, Clock]:
    registry = FakeRegistry(versions={"1": (built, True), "2": (built, True)}, alias="1")
    metrics, clock = CountingMetrics(), Clock()
    lifecycle = ModelLifecycle(lambda: registry, tmp_path / "cache", metrics, clock=clock)
    return registry, lifecycle, metrics, clock


CONFIG = ServeAppConfig(poll_interval_s=2, retry_backoff_max_s=60)


def refresh(lifecycle: ModelLifecycle) -> None:
    asyncio.run(lifecycle.refresh(CONFIG))


def test_follows_the_alias_and_keeps_only_the_served_files(setup) -> None:
    registry, lifecycle, metrics, _ = setup
    refresh(lifecycle)
    first = lifecycle.current
    assert first is not None and first.info.version == "1"
    refresh(lifecycle)  # nothing changed: nothing downloaded again
    assert registry.downloads == ["1"]
    registry.alias = "2"
    refresh(lifecycle)
    assert lifecycle.current is not None and lifecycle.current.info.version == "2"
    assert metrics.swaps == ["1", "2"]
    remaining = list(lifecycle.cache.iterdir())
    assert len(remaining) == 1 and lifecycle.current.folder.is_relative_to(remaining[0])


def test_an_unapproved_version_is_not_loaded_until_approved(setup, built: Path) -> None:
    registry, lifecycle, _, _ = setup
    refresh(lifecycle)
    registry.versions["3"] = (built, False)
    registry.alias = "3"
    refresh(lifecycle)
    assert lifecycle.current is not None and lifecycle.current.info.version == "1"
    assert lifecycle.last_error is not None and "v3 not approved" in lifecycle.last_error
    assert "3" not in registry.downloads
    registry.versions["3"] = (built, True)  # e.g. a forced promotion tags it
    refresh(lifecycle)
    assert lifecycle.current is not None and lifecycle.current.info.version == "3"
    assert lifecycle.last_error is None


@pytest.mark.parametrize("signed_broken", [False, True], ids=["tampered", "signed-broken"])
def test_a_broken_bundle_is_refused_once_and_the_old_model_keeps_serving(
    setup, built: Path, tmp_path: Path, signed_broken: bool
) -> None:
    """Files changed after signing are refused by the signature; files the signer signed
    broken (its checks missed something) are still refused by the pinned digest."""
    registry, lifecycle, metrics, _ = setup
    refresh(lifecycle)
    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    (broken / bundle.MODEL_FP32).write_bytes(b"not onnx")  # digest no longer matches
    registry.versions["4"] = (built, True)
    registry.alias = "4"
    if signed_broken:
        registry.signatures["4"] = sign_folder(broken, CONFIG.model_name, "4")

    def tampered_download(resolved: ResolvedVersion, destination: Path, max_bytes=None) -> Path:
        registry.downloads.append(resolved.version)
        shutil.copytree(broken, destination / "bundle")
        return destination / "bundle"

    registry.download = tampered_download  # type: ignore[method-assign]
    refresh(lifecycle)
    refresh(lifecycle)
    assert lifecycle.current is not None and lifecycle.current.info.version == "1"
    expected = "sha256" if signed_broken else "not the signed ones (changed: model.onnx)"
    assert "4" in lifecycle.refused and expected in lifecycle.refused["4"]
    assert registry.downloads.count("4") == 1  # refused versions are never fetched again
    assert ("load" if signed_broken else "signature") in metrics.failures
    assert not any(p.name.startswith("v4-") for p in lifecycle.cache.iterdir())


def test_failed_downloads_retry_at_the_poll_interval_then_back_off(setup) -> None:
    registry, lifecycle, _, clock = setup
    registry.failing_downloads = 10
    waits = []
    for _ in range(QUICK_RETRIES + 3):
        refresh(lifecycle)
        assert lifecycle.current is None
        attempts_before = len(registry.downloads)
        refresh(lifecycle)  # too early: no new attempt
        assert len(registry.downloads) == attempts_before
        assert lifecycle.last_error is not None
        wait = float(lifecycle.last_error.split("next in ")[1].split(" s")[0])
        waits.append(wait)
        clock.now += wait
    assert waits[:QUICK_RETRIES] == [2.0] * QUICK_RETRIES
    assert waits[QUICK_RETRIES:] == [4.0, 8.0, 16.0]
    registry.failing_downloads = 0
    refresh(lifecycle)
    assert lifecycle.current is not None and lifecycle.current.info.version == "1"


def test_an_unreachable_registry_keeps_the_model_serving(setup) -> None:
    registry, lifecycle, metrics, _ = setup
    refresh(lifecycle)
    registry.down = True
    refresh(lifecycle)
    assert lifecycle.current is not None and lifecycle.current.info.version == "1"
    assert lifecycle.last_error is not None and "registry unreachable" in lifecycle.last_error
    assert metrics.failures == ["registry"]


def test_replicas_do_not_poll_in_lockstep() -> None:
    import random

    from serving.lifecycle import POLL_JITTER, next_poll_delay

    delays = [next_poll_delay(2.0, random.Random(seed)) for seed in range(50)]
    assert all(2.0 * (1 - POLL_JITTER) <= d <= 2.0 * (1 + POLL_JITTER) for d in delays)
    assert len({round(d, 3) for d in delays}) > 40  # spread, not one shared tick


HOLD = ServeAppConfig(poll_interval_s=0.01, start_hold_s=5)


def start_while_the_registry_heals(registry: FakeRegistry, lifecycle: ModelLifecycle) -> bool:
    """A replica starts with the registry down; it comes back 0.1 s into the start hold."""

    async def start() -> bool:
        await lifecycle.refresh(HOLD)
        assert lifecycle.current is None and lifecycle.registry_unreachable

        async def heal() -> None:
            await asyncio.sleep(0.1)
            registry.down = False

        healing = asyncio.create_task(heal())
        loaded = await lifecycle.hold_until_loaded(HOLD)
        await healing
        return loaded

    return asyncio.run(start())


def test_a_starting_replica_waits_for_an_unreachable_registry_then_loads(setup) -> None:
    """Seen on two serve nodes: a replica started during a registry outage became ready with
    no model and took its share of traffic (76 answers 503) until the ingress's health check
    caught it. Its start is now held until the registry answers."""
    registry, lifecycle, _, _ = setup
    registry.down = True

    assert start_while_the_registry_heals(registry, lifecycle)
    assert lifecycle.current is not None and lifecycle.current.info.version == "1"


def test_a_registry_answering_server_errors_is_waited_for_like_an_absent_one(setup) -> None:
    """CI, two serve nodes: a replacement replica started while the registry came back took
    a 5xx of the starting registry for an answer, started empty and served 22 requests 503."""
    from mlflow.exceptions import RestException

    registry, lifecycle, _, _ = setup
    registry.down = True
    registry.down_error = RestException({"error_code": "INTERNAL_ERROR", "message": "locked"})

    assert start_while_the_registry_heals(registry, lifecycle)


def test_a_registry_that_answers_is_never_waited_for(setup) -> None:
    """No champion yet (a fresh platform): the replica starts at once, out of rotation."""
    registry, lifecycle, _, _ = setup
    registry.alias = None
    elapsed = [0.0]

    def clock() -> float:
        elapsed[0] += 0.001
        return elapsed[0]

    async def start() -> bool:
        await lifecycle.refresh(HOLD)
        return await lifecycle.hold_until_loaded(HOLD, clock=clock)

    assert not asyncio.run(start())
    assert not lifecycle.registry_unreachable and elapsed[0] < 0.01


def test_the_start_hold_is_bounded(setup) -> None:
    registry, lifecycle, _, _ = setup
    registry.down = True
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # each look at the clock: a second later
        return now[0]

    async def start() -> bool:
        await lifecycle.refresh(HOLD)
        return await lifecycle.hold_until_loaded(HOLD, clock=clock)

    assert not asyncio.run(start())
    assert lifecycle.current is None and now[0] <= 12
