"""``bulkhead promote|rollback|models``: the registry's aliases, moved as the trainer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bulkhead.operations.errors import BadInput, Refused
from bulkhead.platform.core import Platform

if TYPE_CHECKING:  # the writer imports mlflow: only commands that use it pay for it
    from registry.writer import RegistryWriter, VersionRow


def registry_writer(platform: Platform) -> RegistryWriter:
    """The writer as the `trainer` user: promotion is a train-side act, not an admin one."""
    from registry.writer import RegistryWriter

    platform.credentials("trainer").activate()
    return RegistryWriter(platform.model_name)


@contextmanager
def registry_refusals(action: str) -> Iterator[None]:
    """The registry's refusals as the CLI's: a version that does not exist or a malformed
    one is bad input; a state that does not allow the change is a refusal."""
    from mlflow.exceptions import MlflowException

    from registry.writer import PromotionRefused

    try:
        yield
    except PromotionRefused as err:
        raise Refused(f"{action} refused: {err}") from err
    except MlflowException as err:
        raise BadInput(f"{action} refused by the registry: {err.message}") from err


def promote(platform: Platform, version: str, reason: str, force: bool) -> str | None:
    """Point `champion` at ``version``; returns the previous champion. A running rollout is
    ended first: the operator's choice is never undone by the controller completing it."""
    from bulkhead.operations.rollout import store

    with registry_refusals("promote"):
        store(platform).end_active(f"ended by `promote {version}`: {reason}")
        return registry_writer(platform).promote(version, reason=reason, force=force)


def rollback(platform: Platform, reason: str) -> tuple[str, str]:
    """Move `champion` back to the previous champion; returns (was, now). A running
    rollout is ended first (its candidate gets no more traffic)."""
    from bulkhead.operations.rollout import store

    with registry_refusals("rollback"):
        store(platform).end_active(f"ended by `rollback`: {reason}")
        return registry_writer(platform).rollback(reason)


def versions(platform: Platform) -> list[VersionRow]:
    """Every registered version with its metrics, aliases and gate result."""
    return registry_writer(platform).versions()
