"""`promote` and `rollback` end a running rollout before they move the champion (Covers:
bulkhead/operations/models.py). The registry and the rollout store are faked: what is under
test is the order of the two acts, which the store's own tests cannot see."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bulkhead.operations import models, rollout
from bulkhead.platform.core import Platform


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def end_active(self, reason: str) -> None:
        self.calls.append(("end_active", reason))

    def promote(self, version: str, reason: str, force: bool) -> str:
        self.calls.append(("promote", version))
        return "1"

    def rollback(self, reason: str) -> tuple[str, str]:
        self.calls.append(("rollback", reason))
        return ("2", "1")


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    found = _Recorder()
    monkeypatch.setattr(rollout, "store", lambda platform: found)
    monkeypatch.setattr(models, "registry_writer", lambda platform: found)
    return found


PLATFORM = cast(Platform, object())


def test_promote_ends_a_running_rollout_before_it_moves_the_champion(recorder: Any) -> None:
    """Found by review: a controller tick after `promote` could complete the rollout and undo
    the operator's choice."""
    assert models.promote(PLATFORM, "7", reason="hotfix", force=False) == "1"
    assert [name for name, _ in recorder.calls] == ["end_active", "promote"]
    assert "promote 7" in recorder.calls[0][1] and "hotfix" in recorder.calls[0][1]


def test_rollback_ends_a_running_rollout_before_it_moves_the_champion(recorder: Any) -> None:
    assert models.rollback(PLATFORM, reason="bad answers") == ("2", "1")
    assert [name for name, _ in recorder.calls] == ["end_active", "rollback"]
    assert "rollback" in recorder.calls[0][1] and "bad answers" in recorder.calls[0][1]
