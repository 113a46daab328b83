"""Rollback after a promotion that died half-way (history recorded, alias not moved)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from registry.writer import HISTORY_TAG, PromotionRefused, RegistryWriter


class FakeRegistry:
    """Stands in for MLflow's client: the registry lies outside the unit under test."""

    def __init__(self, champion: str, history: list[str]) -> None:
        self.aliases = {"champion": champion}
        self.tags = {HISTORY_TAG: json.dumps(history)}
        self.version_tags: dict[str, dict[str, str]] = {}

    def get_model_version_by_alias(self, name: str, alias: str) -> Any:
        return SimpleNamespace(version=self.aliases[alias])

    def get_registered_model(self, name: str) -> Any:
        return SimpleNamespace(tags=dict(self.tags))

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self.aliases[alias] = version

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.tags[key] = value

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.version_tags.setdefault(version, {})[key] = value


def test_rollback_skips_a_history_entry_left_by_a_dead_promotion() -> None:
    # v3 was champion after v2; a promotion of v4 recorded v3 in the history, then died
    # before moving the alias: the history ends with the current champion.
    registry = FakeRegistry(champion="3", history=["2", "3"])
    writer = RegistryWriter("sentiment", registry)
    assert writer.rollback("test") == ("3", "2")
    assert registry.aliases["champion"] == "2"
    assert json.loads(registry.tags[HISTORY_TAG]) == []


def test_rollback_without_a_real_previous_champion_is_refused() -> None:
    registry = FakeRegistry(champion="3", history=["3"])
    with pytest.raises(PromotionRefused, match="no previous champion"):
        RegistryWriter("sentiment", registry).rollback("test")
    assert registry.aliases["champion"] == "3"
