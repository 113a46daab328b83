"""What ``up`` started, persisted so ``down`` and ``status`` can find it again."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


# The keys of the one-process services' records in ``PlatformState.processes``.
DROP_KEEPER = "drop keeper"
SIGNER = "model signer"
ROLLOUT_CONTROLLER = "rollout controller"
BALANCER = "front balancer"
TLS_TERMINATOR = "TLS terminator"
SERVE_NODE = "serve node "  # + the node's number (1, 2, ...): serve_node_key(n)


def serve_node_key(node: int) -> str:
    return f"{SERVE_NODE}{node}"


def _one_map(data: dict[str, Any]) -> None:
    """A state saved before the one map (a field per service): its records moved into
    ``processes``, so `down` after an upgrade still stops what the old `up` started."""
    processes = data.setdefault("processes", {})
    for field, key in (
        ("drop_keeper", DROP_KEEPER),
        ("rollout_controller", ROLLOUT_CONTROLLER),
        ("balancer", BALANCER),
        ("tls_terminator", TLS_TERMINATOR),
    ):
        record = data.pop(field, None)
        if record is not None:
            processes.setdefault(key, record)
    for node, record in (data.pop("serve_workers", None) or {}).items():
        processes.setdefault(serve_node_key(int(node)), record)


class PlatformState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry: RegistryState | None = None
    zones: dict[Zone, ZoneState] = Field(default_factory=dict)
    latest_snapshots: dict[str, Path] = Field(
        default_factory=dict,
        description="Per model: the folder of the newest snapshot `ingest` wrote for it.",
    )
    tls: bool = Field(False, description="Started with `up --tls` (certificates in secrets/tls).")
    serve_nodes: int = Field(1, description="Nodes of the serve zone (`up --serve-nodes N`).")
    processes: dict[str, ProcessRecord] = Field(
        default_factory=dict,
        description=(
            "Every one-process service's record, by its key (DROP_KEEPER, SERVE_NODE...): "
            "what `down` stops and `status` shows. A new service keeps its record here, with "
            "no field of its own."
        ),
    )
    identities: Identities | None = Field(
        None,
        description="Each service's own Unix user (`up` as root); None = all run as the operator.",
    )
    isolation: IsolationLayout | None = Field(
        None, description="Network namespaces of `up --isolate`; None = all on the host."
    )

    def process(self, key: str) -> ProcessRecord | None:
        return self.processes.get(key)

    def serve_workers(self) -> dict[int, ProcessRecord]:
        """The serve zone's worker nodes' `ray start`, by node."""
        return {
            int(number): record
            for key, record in self.processes.items()
            if key.startswith(SERVE_NODE) and (number := key.removeprefix(SERVE_NODE)).isdigit()
        }

    def forget_record(self, record: ProcessRecord) -> None:
        self.processes = {k: r for k, r in self.processes.items() if r != record}

    @classmethod
    def load(cls, path: Path) -> PlatformState:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        # Before many models, one snapshot for the one model: `ingest` again to record it.
        data.pop("latest_snapshot", None)
        _one_map(data)
        return cls.model_validate(data)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        os.replace(tmp, path)
