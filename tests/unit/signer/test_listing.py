"""Covers: signer/service.py MlflowVersions (when the signer lists every version again).

Listing every version of every model on every 2-s pass was the idle registry's largest cost
(~12 % of a core with one version per model, growing with versions). The listing is kept
while the registry's changes route says nothing was written, made afresh when it moved, after
the signer's own write, when the route cannot say, and at least every 30 s."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from signer.service import RELIST_AT_LEAST_EVERY_S, MlflowVersions


class _Client:
    """MLflow's client as far as the listing goes: counts the searches."""

    def __init__(self) -> None:
        self.searches = 0
        self.tags: dict[str, str] = {"gate.passed": "true"}

    def search_registered_models(self) -> list[Any]:
        self.searches += 1
        return [SimpleNamespace(name="sentiment")]

    def search_model_versions(self, _filter: str) -> list[Any]:
        return [SimpleNamespace(version="1", tags=dict(self.tags))]

    def set_model_version_tag(self, _m: str, _v: str, key: str, value: str) -> None:
        self.tags[key] = value


def _versions(etags: list[str]) -> tuple[MlflowVersions, _Client, list[float]]:
    client, now = _Client(), [0.0]
    versions = MlflowVersions(client, clock=lambda: now[0])
    versions.changes_route = True
    versions._current_etag = lambda: etags[0]  # type: ignore[method-assign]
    return versions, client, now


def test_the_listing_is_kept_while_the_registry_says_nothing_changed() -> None:
    etags = ['"a-1"']
    versions, client, now = _versions(etags)
    for _ in range(5):
        versions.waiting()
        versions.signed_by_others("k")
        now[0] += 2
    assert client.searches == 1
    etags[0] = '"a-2"'  # a write passed the registry
    assert versions.waiting() and client.searches == 2
    now[0] += RELIST_AT_LEAST_EVERY_S  # another registry process may have taken one
    versions.waiting()
    assert client.searches == 3


def test_its_own_write_and_a_registry_that_cannot_say_list_afresh() -> None:
    etags = ['"a-1"']
    versions, client, _ = _versions(etags)
    versions.waiting()
    versions.record("sentiment", "1", {"bulkhead.signature": "s"})
    assert versions.waiting() == [] and client.searches == 2  # the verdict is seen at once
    etags[0] = ""  # no route (stock MLflow) or no answer
    versions.waiting()
    versions.waiting()
    assert client.searches == 4
