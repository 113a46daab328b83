"""The rollout store against a registry that, like MLflow, has no compare-and-set: an
operator's abort is never undone by a controller's write, and a controller never promotes
over an operator's promote or rollback."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.rollout import RolloutPolicy, RolloutState
from contracts.tags import GATE_PASSED_TAG, SIGNATURE_REFUSED_TAG, SIGNATURE_TAG
from registry.rollouts import RolloutConflict, RolloutStore
from registry.writer import PromotionRefused


class TagRegistry:
    """Registered-model tags in memory, last write wins (MLflow's semantics)."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def get_registered_model(self, name: str) -> Any:
        return SimpleNamespace(tags=dict(self.tags))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.tags[key] = value


class Writer:
    def __init__(self) -> None:
        self.client = TagRegistry()
        self.model_name = "m"
        self.champion = "1"
        self.promoted: list[str] = []
        self.version_tags: dict[str, dict[str, str]] = {}

    def alias_version(self, alias: str) -> str | None:
        return self.champion

    def tags(self, version: str) -> dict[str, str]:
        return self.version_tags.get(version, {"bulkhead.gate_passed": "true"})

    def promote(self, version: str, reason: str, force: bool = False) -> str | None:
        was, self.champion = self.champion, version
        self.promoted.append(version)
        return was


@pytest.fixture
def store() -> RolloutStore:
    return RolloutStore(Writer())  # type: ignore[arg-type]


def _running(store: RolloutStore) -> RolloutState:
    now = time.time()
    state = RolloutState(
        id="r1",
        model="m",
        champion="1",
        candidate="2",
        phase="canary",
        weight=5,
        policy=RolloutPolicy(),
        started_at=now,
        updated_at=now,
    )
    store._write(state)
    return state


def test_an_operators_abort_is_never_overwritten_by_a_controller_tick(store) -> None:
    """Found by review: a controller that read the rollout a moment before the abort wrote
    its next step over it, and the candidate got traffic again."""
    seen_by_controller = _running(store)
    store.abort(store.current(), "operator: abort")
    with pytest.raises(RolloutConflict):
        store.update(seen_by_controller, step=1, weight=25)
    # Even a raw overwrite of the state tag (the race MLflow cannot prevent) revives nothing.
    store._write(seen_by_controller.model_copy(update={"weight": 50, "revision": 9}))
    assert store.current().phase == "aborted" and store.current().weight == 0


def test_a_later_complete_cannot_undo_a_manual_rollback_or_promote(store) -> None:
    seen_by_controller = _running(store)
    ended = store.end_active("operator: rollback")  # what `bulkhead rollback` does first
    assert ended is not None and ended.phase == "aborted"
    with pytest.raises(RolloutConflict):
        store.complete(seen_by_controller, "controller: every step passed")
    assert store.writer.promoted == []  # type: ignore[attr-defined]


def test_a_step_written_on_a_stale_revision_is_refused(store) -> None:
    first = _running(store)
    moved = store.update(first, step=1, weight=25)  # another controller's step
    assert moved.revision == first.revision + 1
    with pytest.raises(RolloutConflict, match="revision"):
        store.update(first, step=1, weight=25)
    completed = store.complete(moved, "passed")
    assert completed.phase == "completed" and store.writer.promoted == ["2"]  # type: ignore[attr-defined]
    assert store.abort(completed, "too late").phase == "completed"  # the first end stays


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ({GATE_PASSED_TAG: "true"}, "is not signed yet"),
        ({GATE_PASSED_TAG: "true", SIGNATURE_REFUSED_TAG: "fake figures"}, "refused by the model"),
    ],
)
def test_a_rollout_of_a_version_no_replica_would_load_is_refused(
    store, tags: dict[str, str], why: str
) -> None:
    store.writer.version_tags["2"] = tags  # type: ignore[attr-defined]
    with pytest.raises(PromotionRefused, match=why):
        store.start("2", RolloutPolicy())
    store.writer.version_tags["2"] = {**tags, SIGNATURE_TAG: "{}"}  # type: ignore[attr-defined]
    assert store.start("2", RolloutPolicy()).candidate == "2"
