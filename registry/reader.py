"""The serve zone's only way into the registry: resolve an alias, download, check approval.

Runs as the read-only ``server`` user. Nothing here imports torch or training code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

GATE_PASSED_TAG = "gate.passed"
FORCED_TAG = "promotion_forced"


class ResolvedVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    run_id: str | None
    approved: bool
    reason: str


class RegistryReader:
    def __init__(self, client: Any | None = None) -> None:
        if client is None:
            from mlflow import MlflowClient

            client = MlflowClient()
        self.client = client

    def resolve(self, name: str, alias: str) -> ResolvedVersion:
        """The version an alias points at, and whether serving may load it."""
        mv = self.client.get_model_version_by_alias(name, alias)
        tags = mv.tags or {}
        approved = tags.get(GATE_PASSED_TAG) == "true" or tags.get(FORCED_TAG) == "true"
        reason = (
            "passed the gate"
            if tags.get(GATE_PASSED_TAG) == "true"
            else "forced promotion"
            if approved
            else f"not approved: {tags.get('gate.failed', 'no gate result recorded')}"
        )
        return ResolvedVersion(
            name=name, version=str(mv.version), run_id=mv.run_id, approved=approved, reason=reason
        )

    def download(self, name: str, version: str, destination: Path) -> Path:
        """Download one pinned version (never the alias: it may move while we download)."""
        import mlflow

        destination.mkdir(parents=True, exist_ok=True)
        local: str = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(destination)
        )
        return Path(local)
