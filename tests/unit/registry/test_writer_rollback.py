"""Rollback after a promotion that died half-way (history recorded, alias not moved)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.tags import FORCED_TAG, HISTORY_TAG, SIGNATURE_REFUSED_TAG
from registry.writer import PromotionRefused, RegistryWriter


class FakeRegistry:
    """Stands in for MLflow's client: the registry lies outside the unit under test."""

    def __init__(self, champion: str, history: list[str]) -> None:
        self.aliases = {"champion": champion}
        self.tags = {HISTORY_TAG: json.dumps(history)}
        self.version_tags: dict[str, dict[str, str]] = {}
        self.calls: list[str] = []

    def get_model_version_by_alias(self, name: str, alias: str) -> Any:
        return SimpleNamespace(version=self.aliases[alias])

    def get_registered_model(self, name: str) -> Any:
        return SimpleNamespace(tags=dict(self.tags))

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self.calls.append(f"alias {alias}={version}")
        self.aliases[alias] = version

    def get_model_version(self, name: str, version: str) -> Any:
        return SimpleNamespace(tags=dict(self.version_tags.get(version, {})))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.tags[key] = value

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.calls.append(f"tag v{version} {key}")
        self.version_tags.setdefault(version, {})[key] = value


def test_rollback_skips_a_history_entry_left_by_a_dead_promotion() -> None:
    # v3 was champion after v2; a promotion of v4 recorded v3 in the history, then died
    # before moving the alias: the history ends with the current champion.
    registry = FakeRegistry(champion="3", history=["2", "3"])
    writer = RegistryWriter("sentiment", registry)
    assert writer.rollback("test") == ("3", "2")
    assert registry.aliases["champion"] == "2"
    assert writer.history() == []


def test_rollback_without_a_real_previous_champion_is_refused() -> None:
    registry = FakeRegistry(champion="3", history=["3"])
    with pytest.raises(PromotionRefused, match="no previous champion"):
        RegistryWriter("sentiment", registry).rollback("test")
    assert registry.aliases["champion"] == "3"


def test_a_forced_promotion_tags_the_version_before_the_alias_moves() -> None:
    # A replica that sees the alias move re-reads the version's tags: the approval must
    # already be there, or it refuses the version.
    registry = FakeRegistry(champion="1", history=[])
    registry.version_tags["2"] = {"gate.passed": "false"}
    RegistryWriter("sentiment", registry).promote("2", reason="hotfix", force=True)
    assert registry.version_tags["2"][FORCED_TAG] == "true"
    assert registry.calls.index(f"tag v2 {FORCED_TAG}") < registry.calls.index("alias champion=2")


def test_concurrent_promote_and_rollback_lose_no_history() -> None:
    """Each move is its own tag: a rollback working from a history read before a promotion
    landed writes its record next to the promotion's, never over it (a rewritten list tag
    let the later writer erase the earlier one's entry)."""
    registry = FakeRegistry(champion="2", history=["1"])
    registry.version_tags["3"] = {"gate.passed": "true"}
    promoter = RegistryWriter("sentiment", registry)
    roller = RegistryWriter("sentiment", registry)
    stale_history = roller.history()  # read before the promotion lands
    promoter.promote("3", reason="new model")
    assert stale_history == ["1"]
    roller.rollback("bad model")
    moves = [json.loads(v) for k, v in registry.tags.items() if k != HISTORY_TAG]
    assert sorted(m["action"] for m in moves) == ["promote", "rollback"]
    assert registry.aliases["champion"] == "2"
    assert promoter.history() == ["1"]


def test_a_version_the_signer_refused_is_promoted_only_by_force() -> None:
    """No replica would load it: a plain promote says so instead of moving the alias."""
    registry = FakeRegistry(champion="1", history=[])
    registry.version_tags["2"] = {
        "gate.passed": "true",
        SIGNATURE_REFUSED_TAG: "train recorded accuracy 0.9700; the signer measured 0.5120",
    }
    writer = RegistryWriter("sentiment", registry)
    with pytest.raises(PromotionRefused, match="the model signer refused version 2"):
        writer.promote("2", reason="")
    assert registry.aliases["champion"] == "1"
    writer.promote("2", reason="the operator insists", force=True)
    assert registry.aliases["champion"] == "2"
