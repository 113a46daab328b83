"""A model family's shared replica without Ray: load a member on first use, answer with it.

Users with dozens of small per-tenant models do not want a replica (and a core) per model.
A family serves them from shared replicas: Serve's ``@serve.multiplexed`` (serving/family.py)
keeps the most recently used members loaded, evicts the least recently used, and routes a
member's requests to a replica that holds it. Each member is loaded exactly as a dedicated
replica loads its model: resolved at the family's alias, refused unless approved, downloaded
into a folder of its own, its signature verified under the family's trust policy and its files
against the digest pinned at registration, self-checked and
warmed up (serving/lifecycle.py). Like a dedicated replica, a family replica follows the
alias of every member it holds (``FamilyMembers.follow``): a promoted version is loaded and
verified next to the old one, then swapped in; a refused one is never served.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from registry.reader import BundleTooLarge, ResolvedVersion
from serving.config import FamilyConfig
from serving.lifecycle import VersionSource, download_and_load
from serving.predictor import ModelLoadError, Prediction, Predictor
from serving.trust import NotTrusted, TrustRing


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
    snapshot_digest: str | None = None
    precision: str = ""
    predictions: list[Prediction] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    load_ms: float = 0.0


class LoadedMember:
    """A loaded member; Serve calls ``__del__`` when it evicts it, which removes its files
    (a replica cycling through many members must not fill its disk)."""

    def __init__(self, predictor: Predictor, folder: Path) -> None:
        self.predictor = predictor
        self.folder = folder

    def swap(self, predictor: Predictor, folder: Path) -> None:
        """One reference swap (requests in flight keep the old predictor, whose session
        lives in memory), then the old version's files go."""
        old = self.folder
        self.predictor, self.folder = predictor, folder
        shutil.rmtree(old, ignore_errors=True)

    def __del__(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class FamilyMembers:
    def __init__(
        self,
        source_factory: Callable[[], VersionSource],
        cache: Path,
        ring: TrustRing | None = None,
    ) -> None:
        self._source_factory = source_factory
        self._source: VersionSource | None = None
        self.cache = cache
        # The serve zone's public keys: no member version is loaded unsigned (serving/trust.py).
        self.ring = ring or TrustRing()
        # (member, version) refused for good (bundle unusable): never downloaded again.
        self.refused: dict[tuple[str, str], str] = {}

    def _client(self) -> VersionSource:
        if self._source is None:
            self._source = self._source_factory()
        return self._source

    def load(self, model: str, config: FamilyConfig) -> LoadedMember:
        """Blocking (run it in a thread): resolve, check approval, download, verify, load."""
        resolved = self._client().resolve(model, config.alias)
        if not resolved.approved:
            raise NotServable(f"model {model!r} v{resolved.version} {resolved.reason}")
        refused = self.refused.get((model, resolved.version))
        if refused is not None:  # its files failed before: never downloaded again
            raise NotServable(f"model {model!r} v{resolved.version} refused: {refused}")
        try:
            self.ring.statement(resolved, config.trust)
        except NotTrusted as err:
            raise NotServable(f"model {model!r} {err}") from err
        try:
            return LoadedMember(*self._fetch(model, resolved, config))
        except (ModelLoadError, BundleTooLarge) as err:
            self.refused[(model, resolved.version)] = str(err)
            raise

    def trusted(self, member: LoadedMember, config: FamilyConfig) -> bool:
        """Whether the key a held member was verified under is still trusted (a retired key's
        versions stop being served; a ring that cannot be read stops nothing)."""
        signed = member.predictor.provenance
        try:
            return signed is None or signed.key_id in self.ring.trusted(config.trust)
        except NotTrusted:
            return True

    def follow(self, model: str, member: LoadedMember, config: FamilyConfig) -> str | None:
        """Blocking. Bring a held member to the version its alias names now: loaded and
        verified beside the old one, then swapped in. Returns the new version, or None when
        nothing changed (same version, not approved, refused before); a failed download
        raises and is tried again at the next poll while the old version keeps serving."""
        resolved = self._client().resolve(model, config.alias)
        if resolved.version == member.predictor.info.version and not self.trusted(member, config):
            # Its key was retired: a new signature of the same files (a rotation re-signed
            # them) brings it back; until then predict answers 503.
            member.predictor.provenance = self.ring.verify(
                member.predictor.folder, resolved, config.trust
            )
            return None
        if resolved.version == member.predictor.info.version or not resolved.approved:
            return None
        if (model, resolved.version) in self.refused:
            return None
        self.ring.statement(resolved, config.trust)  # NotTrusted: asked again next poll
        try:
            predictor, folder = self._fetch(model, resolved, config)
        except (ModelLoadError, BundleTooLarge) as err:
            self.refused[(model, resolved.version)] = str(err)
            raise
        member.swap(predictor, folder)
        return resolved.version

    def _fetch(
        self, model: str, resolved: ResolvedVersion, config: FamilyConfig
    ) -> tuple[Predictor, Path]:
        folder = self.cache / f"{model}-{uuid.uuid4().hex[:8]}"
        try:
            predictor = download_and_load(
                self._client(), folder, resolved, config.loading(model), self.ring
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return predictor, folder
