"""What ``bulkhead status`` reports: typed, so ``--json`` keys are a contract scripts can use."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field


class ServingView(BaseModel):
    """One serve replica's answer to `GET /v1/status` (or why there was none)."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = None
    precision: str | None = None
    last_error: str | None = None
    refused: dict[str, str] = {}
    signed_by: str | None = Field(None, description="Key id the served version was verified under.")
    snapshot_digest: str | None = None
    unreachable: str | None = None


class ZoneStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str
    dashboard_url: str
    state: str
    pid: int | None
    num_cpus: float
    token_file: str
    network_namespace: str | None = None


class ServeNodeStatus(BaseModel):
    """One node of the serve zone: its Ray node process and its ingress as the front
    balancer sees it (``balancer_check`` null with one node: no balancer)."""

    model_config = ConfigDict(extra="forbid")

    node: int = Field(description="0 = the head.")
    ingress: str = Field(description="host:port of the node's own Serve ingress.")
    state: str
    pid: int | None
    balancer_check: str | None = None


class DropStatus(BaseModel):
    """The one-way drop (serve -> ingest) as its keeper last counted it."""

    model_config = ConfigDict(extra="forbid")

    pid: int | None = Field(description="The keeper's restart loop; null = not running.")
    state: str = Field(
        "stopped",
        description="running (the keeper writes its counters on time) / restarting (its loop "
        "is alive, the keeper is not: dead, frozen or crash-looping) / stopped.",
    )
    keeper_pid: int | None = Field(None, description="The keeper itself, when running.")
    restarts: int = Field(0, description="Times the loop started the keeper again.")
    records_dir: str
    records: int = Field(0, description="Records written since the keeper started.")
    bytes: int = Field(0, description="Size of the whole drop.")
    refused: int = Field(
        0,
        description="Invalid records, unknown senders, oversized datagrams, ids the serve "
        "zone did not mint.",
    )
    dropped_full: int = Field(0, description="Records refused because the drop was full.")
    by_model: dict[str, int] = Field(default_factory=dict)


class ServiceStatus(BaseModel):
    """One service `up` starts, in `status --json`'s ``services`` list (in `up`'s order)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    state: str = Field(description="running / stopped / not used (the settings do not want it).")
    pids: list[int] = Field(default_factory=list, description="Each record's session leader.")


class PlatformStatus(BaseModel):
    """What ``bulkhead status --json`` prints; scripts rely on these keys."""

    model_config = ConfigDict(extra="forbid")

    services: list[ServiceStatus] = Field(
        default_factory=list, description="Every service `up` starts, in its order."
    )

    serve_url: str
    mlflow_url: str
    registry_state: str
    registry_error: str | None
    model_name: str = Field(description="The model this status is about (`--model`).")
    default_model: str = Field("", description="The default model (/v1/predict).")
    experiment_name: str
    champion_version: str | None
    api_key_file: str
    secrets_dir: str
    latest_snapshots: dict[str, str]
    champions: dict[str, str | None] = Field(
        default_factory=dict, description="Every configured model's champion version."
    )
    isolated: bool = False
    tls: bool = False
    rollout_controller_pid: int | None = Field(
        None, description="The unattended rollout controller `up` keeps; null = not running."
    )
    identities: dict[str, str] | None = Field(
        None,
        description="Unix user per service; null = every zone runs as the operator (not root).",
    )
    serving: ServingView | None = None
    zones: dict[str, ZoneStatus]
    serve_nodes: list[ServeNodeStatus] = Field(
        default_factory=list, description="The serve zone's nodes (one without `--serve-nodes`)."
    )
    balancer_pid: int | None = Field(
        None, description="The front balancer of several serve nodes; null = none running."
    )
    drop: DropStatus | None = Field(
        None, description="The payload and feedback drop's keeper; null = never started."
    )

    @property
    def all_running(self) -> bool:
        return self.registry_state == "running" and all(
            z.state == "running" for z in self.zones.values()
        )


def status_json(status: PlatformStatus) -> str:
    return json.dumps(status.model_dump(), indent=2)
