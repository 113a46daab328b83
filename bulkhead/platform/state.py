"""What ``up`` started, persisted so ``down`` and ``status`` can find it again."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bulkhead.platform.identity import Identities
from bulkhead.platform.isolation import IsolationLayout
from bulkhead.platform.procs import ProcessRecord
from bulkhead.platform.settings import Zone


class RegistryState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    process: ProcessRecord
    experiment_id: str | None = None


class ZoneState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zone: Zone
    gcs_address: str = Field(description="host:port of the zone's GCS, for ray.init.")
    dashboard_url: str = Field(description="Dashboard / Jobs API / Serve REST API URL.")
    token_file: Path
    temp_dir: Path
    process: ProcessRecord


class PlatformState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry: RegistryState | None = None
    zones: dict[Zone, ZoneState] = Field(default_factory=dict)
    latest_snapshots: dict[str, Path] = Field(
        default_factory=dict,
        description="Per model: the folder of the newest snapshot `ingest` wrote for it.",
    )
    tls: bool = Field(False, description="Started with `up --tls` (certificates in secrets/tls).")
    tls_terminator: ProcessRecord | None = Field(
        None, description="The HAProxy that serves HTTPS in front of the serve zone (`--tls`)."
    )
    serve_nodes: int = Field(1, description="Nodes of the serve zone (`up --serve-nodes N`).")
    serve_workers: dict[int, ProcessRecord] = Field(
        default_factory=dict, description="The serve zone's worker nodes' `ray start`, by node."
    )
    balancer: ProcessRecord | None = Field(
        None, description="The front HAProxy of a serve zone of several nodes."
    )
    drop_keeper: ProcessRecord | None = Field(
        None, description="The payload and feedback drop's keeper (drop/keeper.py)."
    )
    rollout_controller: ProcessRecord | None = Field(
        None, description="`bulkhead rollout watch --forever`, started by `up`."
    )
    identities: Identities | None = Field(
        None,
        description="Each service's own Unix user (`up` as root); None = all run as the operator.",
    )
    isolation: IsolationLayout | None = Field(
        None, description="Network namespaces of `up --isolate`; None = all on the host."
    )

    @classmethod
    def load(cls, path: Path) -> PlatformState:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        # Before many models, one snapshot for the one model: `ingest` again to record it.
        data.pop("latest_snapshot", None)
        return cls.model_validate(data)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        os.replace(tmp, path)
