"""The unattended controller's idle question, "is a rollout running?", goes through the
registry's cheap conditional poll route like the replicas' polls, not MLflow's
get_registered_model (≈ 18 ms of registry CPU per call, every 2 s per model)."""

from __future__ import annotations

from typing import Any

from bulkhead.operations.rollout import rollout_now
from contracts.rollout import RolloutPolicy, RolloutState
from registry.reader import RegistryReadError, ResolvedVersion


class Store:
    model_name = "sentiment"

    def __init__(self, state: RolloutState | None) -> None:
        self.state = state
        self.asked = 0

    def current(self) -> RolloutState | None:
        self.asked += 1
        return self.state


class Reader:
    def __init__(self, answer: ResolvedVersion | Exception) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str]] = []

    def resolve(self, name: str, alias: str) -> ResolvedVersion:
        self.asked.append((name, alias))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _state() -> RolloutState:
    return RolloutState(
        id="r1",
        model="sentiment",
        candidate="3",
        champion="2",
        phase="shadow",
        step=0,
        weight=0,
        policy=RolloutPolicy(),
        started_at=0.0,
        updated_at=0.0,
    )


def _resolved(rollout: RolloutState | None) -> ResolvedVersion:
    return ResolvedVersion(
        name="sentiment", version="2", run_id="r", approved=True, reason="", rollout=rollout
    )


def test_the_poll_route_answers_and_mlflow_is_not_asked() -> None:
    store, state = Store(None), _state()
    reader: Any = Reader(_resolved(state))
    assert rollout_now(reader, store) == state  # type: ignore[arg-type]
    assert reader.asked == [("sentiment", "champion")] and store.asked == 0
    reader.answer = _resolved(None)
    assert rollout_now(reader, store) is None  # type: ignore[arg-type]
    assert store.asked == 0


def test_a_model_without_a_champion_is_asked_through_mlflow() -> None:
    store = Store(None)
    reader: Any = Reader(RegistryReadError("alias sentiment@champion: registry answered 404"))
    assert rollout_now(reader, store) is None  # type: ignore[arg-type]
    assert store.asked == 1
