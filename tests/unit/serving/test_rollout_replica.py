"""A replica during a rollout, without Ray: real bundles (the candidate variants the chaos
scenarios register), a fake registry, the real lifecycle, traffic split and shadow runner."""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bulkhead.harness.chaos.candidates import make_variant
from contracts.rollout import RolloutPolicy, RolloutState, canary_bucket
from serving.config import ServeAppConfig
from serving.core import ServingCore
from serving.metrics import CallPath, NoMetrics
from serving.traffic import to_candidate
from tests.utils.bundles import make_bundle
from tests.utils.fake_registry import FakeRegistry

CONFIG = ServeAppConfig(poll_interval_s=2)


@dataclass
class VersionMetrics(NoMetrics):
    calls: list[tuple[str, CallPath, bool]] = field(default_factory=list)
    compared: list[tuple[str, int, int]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def version_call(
        self,
        model: str,
        version: str,
        path: CallPath,
        ok: bool,
        model_ms: float,
        labels: list[str],
    ) -> None:
        self.calls.append((version, path, ok))

    def shadow_compared(self, model: str, version: str, mirrored: int, agreed: int) -> None:
        self.compared.append((version, mirrored, agreed))

    def shadow_dropped(self, model: str, version: str, reason: str) -> None:
        self.dropped.append(reason)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    base = make_bundle(root / "base")
    made = {"1": base}
    for version, variant in (("2", "copy"), ("3", "erroring"), ("4", "flipped")):
        folder = root / variant
        shutil.copytree(base, folder)
        make_variant(folder, variant, texts=["a short one", "a b c d e f g h i j k l m n o p"])
        made[version] = folder
    return made


def state(
    candidate: str, phase: str = "canary", weight: int = 50, **policy: object
) -> RolloutState:
    return RolloutState(
        id="r1",
        model="sentiment",
        champion="1",
        candidate=candidate,
        phase=phase,  # type: ignore[arg-type]
        weight=weight,
        policy=RolloutPolicy.model_validate(policy),
        started_at=time.time(),
        updated_at=time.time(),
    )


def replica(
    bundles: dict[str, Path], tmp_path: Path
) -> tuple[FakeRegistry, ServingCore, VersionMetrics]:
    registry = FakeRegistry(versions={v: (f, True) for v, f in bundles.items()}, alias="1")
    metrics = VersionMetrics()
    core = ServingCore(lambda: registry, tmp_path / "cache", metrics)
    core.configure(CONFIG)
    core.traffic._rng = random.Random(7)
    return registry, core, metrics


def refresh(core: ServingCore) -> None:
    asyncio.run(core.lifecycle.refresh(CONFIG))


def test_a_replica_holds_the_candidate_while_the_rollout_runs_and_drops_it_after(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    registry, core, _ = replica(bundles, tmp_path)
    refresh(core)
    assert core.lifecycle.candidate is None
    registry.rollout = state("2", phase="shadow", weight=0)
    refresh(core)
    held = core.lifecycle.candidate
    assert held is not None and held.info.version == "2"
    assert core.lifecycle.current is not None and core.lifecycle.current.info.version == "1"
    refresh(core)  # the same rollout: nothing fetched again
    assert registry.downloads == ["1", "2"]
    registry.rollout = state("2").model_copy(update={"phase": "aborted", "weight": 0})
    refresh(core)
    assert core.lifecycle.candidate is None
    assert len(list(core.lifecycle.cache.iterdir())) == 1  # only the champion's files


def test_completion_makes_the_held_candidate_champion_without_a_second_download(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    registry, core, _ = replica(bundles, tmp_path)
    refresh(core)
    registry.rollout = state("2", weight=100)
    refresh(core)
    held = core.lifecycle.candidate
    registry.alias = "2"  # the controller promotes, then closes the rollout
    refresh(core)
    assert core.lifecycle.current is held and core.lifecycle.candidate is None
    registry.rollout = registry.rollout.model_copy(update={"phase": "completed"})
    refresh(core)
    assert core.lifecycle.current is held
    assert registry.downloads == ["1", "2"]


def test_an_unapproved_candidate_is_never_loaded(bundles: dict[str, Path], tmp_path: Path) -> None:
    registry, core, _ = replica(bundles, tmp_path)
    refresh(core)
    registry.versions["2"] = (bundles["2"], False)
    registry.rollout = state("2")
    refresh(core)
    assert core.lifecycle.candidate is None and "2" not in registry.downloads
    assert "not approved" in (core.lifecycle.last_error or "")


def test_canary_share_and_every_answer_names_its_version(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    registry, core, metrics = replica(bundles, tmp_path)
    refresh(core)
    registry.rollout = state("2", weight=25)
    refresh(core)

    async def many() -> list[str]:
        return [(await core.answer(["a fine film"])).predictor.info.version for _ in range(400)]

    versions = asyncio.run(many())
    share = versions.count("2") / len(versions)
    assert 0.18 < share < 0.32, share
    served = [(v, ok) for v, path, ok in metrics.calls if path == "served"]
    assert served.count(("2", True)) == versions.count("2")


def test_a_client_key_is_sticky_and_a_key_once_moved_stays_on_the_candidate() -> None:
    rng = random.Random(0)
    keys = [f"user-{i}" for i in range(2000)]
    at_10 = {k for k in keys if to_candidate(state("2", weight=10), k, rng)}
    again = {k for k in keys if to_candidate(state("2", weight=10), k, rng)}
    at_50 = {k for k in keys if to_candidate(state("2", weight=50), k, rng)}
    assert at_10 == again  # sticky
    assert at_10 <= at_50  # monotone as the weight grows
    assert 0.07 < len(at_10) / len(keys) < 0.13 and 0.45 < len(at_50) / len(keys) < 0.55
    # Another rollout draws its own sample of keys.
    other = {k for k in keys if canary_bucket("r2", k) < 1000}
    assert other != at_10


def test_a_failing_candidate_is_answered_by_the_champion_and_counted_against_it(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    registry, core, metrics = replica(bundles, tmp_path)
    refresh(core)
    registry.rollout = state("3", weight=100)  # fails beyond 12 tokens
    refresh(core)
    long_text = "this sentence is long enough to go past the erroring model's token limit"
    answer = asyncio.run(core.answer([long_text]))
    assert answer.predictor.info.version == "1"
    assert ("3", "served", False) in metrics.calls and ("1", "served", True) in metrics.calls
    assert asyncio.run(core.answer(["short"])).predictor.info.version == "3"


def test_shadow_copies_compare_labels_and_are_dropped_when_the_replica_is_busy(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    registry, core, metrics = replica(bundles, tmp_path)
    refresh(core)
    registry.rollout = state("4", phase="shadow", weight=0)  # flipped labels
    refresh(core)
    # A clock that moves only when told: "within 1/max_per_s of the first copy" must not
    # depend on how busy the machine is (it failed once on a loaded one).
    now = [100.0]
    core.traffic.shadow._clock = lambda: now[0]

    async def run() -> None:
        answer = await core.answer(["a fine film"])
        assert answer.predictor.info.version == "1"  # shadow never answers
        while core.traffic.shadow.pending:
            await asyncio.sleep(0.01)
        await core.answer(["again"])  # within 1/max_per_s of the first copy: dropped
        core.traffic.shadow._last_start = float("-inf")
        core.pool.running += 1  # a real request is running: the copy is dropped
        await core.answer(["another film"])
        core.pool.running -= 1

    asyncio.run(run())
    assert metrics.compared == [("4", 1, 0)]  # mirrored once, disagreed
    assert metrics.dropped == ["rate", "busy"]
    # The copy timed both versions on its thread: a paired latency comparison.
    assert [(v, ok) for v, path, ok in metrics.calls if path == "shadow"] == [
        ("4", True),
        ("1", True),
    ]
