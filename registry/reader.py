"""The serve zone's only way into the registry: resolve an alias, check approval, download.

Runs as the read-only ``server`` user. Nothing here imports torch or training code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from contracts.tags import (
    FORCED_TAG,
    GATE_FAILED_TAG,
    GATE_PASSED_TAG,
    MANIFEST_DIGEST_TAG,
    valid_version,
)


class BundleTooLarge(RuntimeError):
    """A version's files add up to more than the download cap; it is never fetched."""


class ResolvedVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    run_id: str | None
    approved: bool
    reason: str
    source: str | None = None
    manifest_digest: str | None = None

    @field_validator("version")
    @classmethod
    def _a_version_number(cls, version: str) -> str:
        return valid_version(version)


class RegistryReader:
    def __init__(self, client: Any | None = None) -> None:
        if client is None:
            from mlflow import MlflowClient

            client = MlflowClient()
        self.client = client

    def resolve(self, name: str, alias: str) -> ResolvedVersion:
        """The version an alias points at, and whether serving may load it.

        Approval is read afresh on every call: a version refused as unapproved becomes
        servable the moment the operator approves it (a forced promotion tags it).
        """
        return self._resolved(name, self.client.get_model_version_by_alias(name, alias))

    def pinned(self, name: str, version: str) -> ResolvedVersion:
        """One version by number, with its approval and pinned manifest digest."""
        return self._resolved(name, self.client.get_model_version(name, valid_version(version)))

    def _resolved(self, name: str, mv: Any) -> ResolvedVersion:
        tags = mv.tags or {}
        digest = tags.get(MANIFEST_DIGEST_TAG)
        passed = tags.get(GATE_PASSED_TAG) == "true"
        forced = tags.get(FORCED_TAG) == "true"
        if digest is None:
            approved, reason = False, f"not approved: no {MANIFEST_DIGEST_TAG} recorded"
        elif passed or forced:
            approved, reason = True, "passed the gate" if passed else "forced promotion"
        else:
            approved = False
            reason = f"not approved: {tags.get(GATE_FAILED_TAG, 'no gate result recorded')}"
        return ResolvedVersion(
            name=name,
            version=str(mv.version),
            run_id=mv.run_id,
            approved=approved,
            reason=reason,
            source=getattr(mv, "source", None),
            manifest_digest=digest,
        )

    def bundle_size(self, resolved: ResolvedVersion) -> int:
        """Bytes the version's files add up to, from the artifact listing (nothing fetched)."""
        from mlflow.artifacts import list_artifacts

        uri = resolved.source or f"models:/{resolved.name}/{resolved.version}"
        total = 0
        pending = [""]
        while pending:
            prefix = pending.pop()
            base = f"{uri}/{prefix}" if prefix else uri
            for entry in list_artifacts(artifact_uri=base):
                if entry.is_dir:
                    relative = entry.path.rsplit("/", 1)[-1]
                    pending.append(f"{prefix}/{relative}" if prefix else relative)
                else:
                    total += int(entry.file_size or 0)
        return total

    def download(
        self, resolved: ResolvedVersion, destination: Path, max_bytes: int | None = None
    ) -> Path:
        """Download one pinned version (never the alias: it may move while we download)."""
        import mlflow

        if max_bytes is not None:
            size = self.bundle_size(resolved)
            if size > max_bytes:
                raise BundleTooLarge(
                    f"v{resolved.version} holds {size} bytes, over the {max_bytes}-byte cap"
                )
        destination.mkdir(parents=True, exist_ok=True)
        local: str = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{resolved.name}/{resolved.version}", dst_path=str(destination)
        )
        return Path(local)
