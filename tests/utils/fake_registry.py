"""A registry reader that serves copies of real bundle folders: serving's unit tests use it
in place of MLflow (the unit under test is the replica, not the registry)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from contracts.rollout import RolloutState
from registry import bundle
from registry.reader import RegistryReadError, ResolvedVersion


@dataclass
class FakeRegistry:
    """Versions by number: (folder, approved). ``down`` makes every call fail."""

    versions: dict[str, tuple[Path, bool]] = field(default_factory=dict)
    alias: str | None = None
    down: bool = False
    failing_downloads: int = 0
    downloads: list[str] = field(default_factory=list)
    rollout: RolloutState | None = None
    # What a call raises while ``down`` (default: no answer at all).
    down_error: Exception | None = None

    def _fail_if_down(self) -> None:
        if self.down:
            raise self.down_error or ConnectionError("registry unreachable")

    def resolve(self, name: str, alias: str) -> ResolvedVersion:
        self._fail_if_down()
        if self.alias is None:  # the registry answers: no such alias (yet)
            raise RegistryReadError(f"alias {name}@{alias}: registry answered 404")
        return self.pinned(name, self.alias).model_copy(update={"rollout": self.rollout})

    def pinned(self, name: str, version: str) -> ResolvedVersion:
        self._fail_if_down()
        folder, approved = self.versions[version]
        return ResolvedVersion(
            name=name,
            version=version,
            run_id="run",
            approved=approved,
            reason="passed the gate" if approved else "not approved: gate failed",
            manifest_digest=bundle.manifest_digest(folder),
        )

    def download(
        self, resolved: ResolvedVersion, destination: Path, max_bytes: int | None = None
    ) -> Path:
        self.downloads.append(resolved.version)
        if self.failing_downloads:
            self.failing_downloads -= 1
            raise ConnectionError("connection reset during download")
        target = destination / "bundle"
        shutil.copytree(self.versions[resolved.version][0], target)
        return target
