"""``bulkhead promote|rollback|models``: the registry's aliases, moved as the trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bulkhead.operations.errors import Refused
from bulkhead.platform.core import Platform

if TYPE_CHECKING:  # the writer imports mlflow: only commands that use it pay for it
    from registry.writer import RegistryWriter, VersionRow


def registry_writer(platform: Platform) -> RegistryWriter:
    """The writer as the `trainer` user: promotion is a train-side act, not an admin one."""
    from registry.writer import RegistryWriter

    platform.credentials("trainer").activate()
    return RegistryWriter(platform.settings.model_name)


def promote(platform: Platform, version: str, reason: str, force: bool) -> str | None:
    """Point `champion` at ``version``; returns the previous champion."""
    from registry.writer import PromotionRefused

    try:
        previous = registry_writer(platform).promote(version, reason=reason, force=force)
    except PromotionRefused as err:
        raise Refused(f"promote refused: {err}") from err
    return previous


def rollback(platform: Platform, reason: str) -> tuple[str, str]:
    """Move `champion` back to the previous champion; returns (was, now)."""
    from registry.writer import PromotionRefused

    try:
        current, target = registry_writer(platform).rollback(reason)
    except PromotionRefused as err:
        raise Refused(f"rollback refused: {err}") from err
    return current, target


def versions(platform: Platform) -> list[VersionRow]:
    """Every registered version with its metrics, aliases and gate result."""
    return registry_writer(platform).versions()
