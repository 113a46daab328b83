"""A model family's shared replica without Ray: load a member on first use, answer with it.

Users with dozens of small per-tenant models do not want a replica (and a core) per model.
A family serves them from shared replicas: Serve's ``@serve.multiplexed`` (serving/family.py)
keeps the most recently used members loaded, evicts the least recently used, and routes a
member's requests to a replica that holds it. Each member is loaded exactly as a dedicated
replica loads its model: resolved at the family's alias, refused unless approved, downloaded
into a folder of its own, verified against the digest pinned at registration, self-checked and
warmed up (serving/lifecycle.py). Unlike a dedicated replica, a family replica does not poll:
a member loaded once serves that version until it is evicted or the replica restarts.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from serving.config import FamilyConfig
from serving.lifecycle import VersionSource, download_and_load
from serving.predictor import Prediction, Predictor


class NotServable(Exception):
    """The member has no approved version at the family's alias (503 + Retry-After)."""


@dataclass(frozen=True)
class FamilyAnswer:
    """What a shared replica answers for one request (never an exception across Ray)."""

    status: int
    detail: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    version: str = ""
    run_id: str | None = None
    precision: str = ""
    predictions: list[Prediction] = field(default_factory=list)
    load_ms: float = 0.0


class LoadedMember:
    """A loaded member; Serve calls ``__del__`` when it evicts it, which removes its files
    (a replica cycling through many members must not fill its disk)."""

    def __init__(self, predictor: Predictor, folder: Path) -> None:
        self.predictor = predictor
        self.folder = folder

    def __del__(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class FamilyMembers:
    def __init__(self, source_factory: Callable[[], VersionSource], cache: Path) -> None:
        self._source_factory = source_factory
        self._source: VersionSource | None = None
        self.cache = cache

    def load(self, model: str, config: FamilyConfig) -> LoadedMember:
        """Blocking (run it in a thread): resolve, check approval, download, verify, load."""
        if self._source is None:
            self._source = self._source_factory()
        resolved = self._source.resolve(model, config.alias)
        if not resolved.approved:
            raise NotServable(f"model {model!r} v{resolved.version} {resolved.reason}")
        folder = self.cache / f"{model}-{uuid.uuid4().hex[:8]}"
        try:
            predictor = download_and_load(self._source, folder, resolved, config.loading(model))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return LoadedMember(predictor, folder)
