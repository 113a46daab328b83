"""Start the registry and the zones' Ray clusters as real processes.

Each service gets an environment built from scratch for it: the zone's own Ray token and its
own registry credentials, and none of another zone's secrets.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from bulkhead.platform import provision
from bulkhead.platform.haproxy_wrapper import (
    ANSWER_TIMEOUT_ERRORFILE,
    REQUEST_TIMEOUT_ERRORFILE,
    answer_timeout_response,
    haproxy_binary,
    request_timeout_response,
    wrapper_script,
)
from bulkhead.platform.identity import SERVICE_UMASK, Identity, Role
from bulkhead.platform.isolation import ZONE_NODES, Node
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import (
    ProcessRecord,
    ensure_ports_free,
    spawn,
    stop_ray_node,
    stop_session,
    tcp_open,
    wait_until,
)
from bulkhead.platform.secrets import read_secret
from bulkhead.platform.service import Context, Service
from bulkhead.platform.settings import PlatformSettings, ServeZoneSettings, Zone, ZonePorts
from bulkhead.platform.state import PlatformState, RegistryState, ZoneState
from bulkhead.platform.zone_files import hand_to_zone, make_dirs, ray_temp_folder
from contracts import env as names
from contracts.drop import DROP_SOCKET_ENV, REQUEST_ID_KEY_FILE_ENV
from registry.admin import ZONE_USERS, RegistryError, bootstrap

# What a service inherits from the operator's environment: locale, time zone and the numeric
# libraries' CPU settings (OpenBLAS needs OPENBLAS_CORETYPE on some processors to compute
# correctly). Nothing else: no cloud keys (AWS_*), hub tokens (HF_TOKEN), tracking
# credentials, Ray addresses or tokens reach a zone unless the platform puts them there.
INHERITED_VARIABLES = frozenset({"LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM"})
INHERITED_PREFIXES = ("LC_", "OPENBLAS_", "OMP_", "MKL_")
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

SERVE_CACHE_DIR_ENV = names.SERVE_CACHE_DIR


def venv_bin() -> Path:
    return Path(sys.executable).parent


# MLflow's client sends usage telemetry to an outside address by default: no zone may reach
# out, and its session-id environment variable, set and unset by one thread while another
# reads it, failed a training job's metric upload here (KeyError in `log-batch`).
NO_PHONING_HOME = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def clean_env(home: Path | None = None) -> dict[str, str]:
    """A service's environment, built from an allow-list (see INHERITED_VARIABLES).

    ``home``: the service's own HOME (caches, ~/.ray); unset = the operator's.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key in INHERITED_VARIABLES or key.startswith(INHERITED_PREFIXES)
    }
    env["PATH"] = f"{venv_bin()}{os.pathsep}{_SYSTEM_PATH}"
    env["PYTHONUNBUFFERED"] = "1"
    env["HOME"] = str(home) if home is not None else os.environ.get("HOME", "/")
    env.update(NO_PHONING_HOME)
    return env


def tls_verify(settings: PlatformSettings, paths: StatePaths) -> str | bool:
    """``verify`` for HTTP clients of the platform: its CA under TLS."""
    if not settings.tls:
        return True
    from bulkhead.platform import tls

    return str(tls.files(paths).ca_cert)


def ray_client_env(token_file: Path) -> dict[str, str]:
    """What a Ray client (driver, job client, ``serve deploy``) needs to talk to one zone."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}


# ---------------------------------------------------------------- registry


def registry_command(settings: PlatformSettings, paths: StatePaths) -> list[str]:
    tls_options: list[str] = []
    if settings.tls:
        # The registry's own copies (bulkhead/platform/handover.py), readable by its identity alone.
        folder = paths.handed_tls(Role.REGISTRY)
        tls_options = [
            "--uvicorn-opts",
            f"--ssl-keyfile {folder / 'https-key.pem'} --ssl-certfile {folder / 'https.pem'}",
        ]
    return [
        str(venv_bin() / "mlflow"),
        "server",
        "--host",
        settings.registry_address,
        "--port",
        str(settings.registry_port),
        # One worker: the default spawns several (~2.5 GB RSS) for a load we do not have.
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{paths.registry_db}",
        "--artifacts-destination",
        str(paths.artifacts),
        "--serve-artifacts",
        "--app-name",
        "bulkhead-auth",
        *tls_options,
    ]


def registry_env(paths: StatePaths) -> dict[str, str]:
    env = clean_env(home=paths.service_home(Role.REGISTRY))
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(paths.auth_config)
    env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = read_secret(paths.flask_secret)
    # MLflow 3.x starts a job runner and a Huey consumer per queue (online trace scoring and
    # the like: ~7 processes, ~1.2 GB) unless told not to; nothing here uses them.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    # One registry process (--workers 1): every registry write passes it and drops its cached
    # alias answers at once, so replicas' polls may be answered from the cache for 30 s.
    env[names.REGISTRY_ALIAS_CACHE_S] = "30"
    return env


def start_registry(
    settings: PlatformSettings,
    paths: StatePaths,
    prefix: Sequence[str] = (),
    identity: Identity | None = None,
) -> ProcessRecord:
    """``prefix`` runs it elsewhere, e.g. ``ip netns exec <registry namespace>``;
    ``identity`` is the registry's own Unix user (privileges dropped last)."""
    paths.artifacts.mkdir(parents=True, exist_ok=True)
    env = registry_env(paths)
    drop = identity.drop_prefix() if identity is not None else []
    record = spawn(
        [*prefix, *drop, *registry_command(settings, paths)],
        env,
        paths.log_file("registry"),
        cwd=paths.service_home(Role.REGISTRY),
        umask=SERVICE_UMASK,
    )

    verify = tls_verify(settings, paths)

    def healthy() -> bool:
        try:
            response = httpx.get(f"{settings.registry_url}/health", timeout=2, verify=verify)
            return response.status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, record, "the registry (MLflow server)", settings.startup_timeout_s)
    return record


# ---------------------------------------------------------------- Ray zones


def node_port_flags(ports: ZonePorts) -> list[str]:
    """The ports every Ray node (head or worker) binds, from its own block."""
    return [
        f"--node-manager-port={ports.node_manager}",
        f"--object-manager-port={ports.object_manager}",
        f"--dashboard-agent-grpc-port={ports.dashboard_agent_grpc}",
        f"--dashboard-agent-listen-port={ports.dashboard_agent_listen}",
        f"--metrics-export-port={ports.metrics_export}",
        f"--runtime-env-agent-port={ports.runtime_env_agent}",
        f"--min-worker-port={ports.min_worker}",
        f"--max-worker-port={ports.max_worker}",
    ]


def zone_command(settings: PlatformSettings, paths: StatePaths, zone: Zone) -> list[str]:
    zs = settings.zone(zone)
    ports = zs.ports
    host = settings.zone_host(zone)
    return [
        str(venv_bin() / "ray"),
        "start",
        "--head",
        "--block",
        f"--node-ip-address={host}",
        f"--port={ports.gcs}",
        f"--dashboard-host={host}",
        f"--dashboard-port={ports.dashboard}",
        f"--ray-client-server-port={ports.client_server}",
        *node_port_flags(ports),
        f"--num-cpus={zs.num_cpus:g}",
        f"--num-gpus={zs.num_gpus}",
        f"--object-store-memory={zs.object_store_mb * 1024 * 1024}",
        f"--temp-dir={paths.ray_temp_dir(zone)}",
        f'--resources={{"zone_{zone.value}": 1000}}',
        "--disable-usage-stats",
    ]


def zone_env(settings: PlatformSettings, paths: StatePaths, zone: Zone) -> dict[str, str]:
    """Everything names the zone's own copies (platform/handover.py), never the operator's."""
    role = Role(zone.value)
    env = clean_env(home=paths.service_home(role))
    env.update(ray_client_env(paths.handed_ray_token(zone)))
    env.update(
        {
            # Keep --node-ip-address=127.0.0.1 as given instead of the machine's address.
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            # Ray's log monitor re-lists the session's log folder on every pass (every 0.1 s)
            # while it holds fewer files than this threshold: ≈ 3 % of a core per idle
            # cluster here, three clusters. At 0 it re-lists every 0.5 s (Ray's
            # LOG_NAME_UPDATE_INTERVAL_S); a new worker's log file is found up to 0.5 s later
            # and read from its start, so no line is lost.
            "RAY_LOG_MONITOR_MANY_FILES_THRESHOLD": "0",
            names.ZONE: zone.value,
            # The zone's own temporary files (multiprocessing's pymp-* listener folders
            # among them, which a killed process leaves) stay inside its wall, and go with
            # its Ray folder, never into the machine's shared /tmp.
            "TMPDIR": str(paths.ray_temp_dir(zone)),
            names.REGISTRY_CREDENTIALS: str(paths.handed_registry_credentials(zone)),
            # Nothing in any zone may fetch weights or data from a hub at run time.
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    if settings.tls:
        folder = paths.handed_tls(role)
        # Mutual TLS on every gRPC connection of the cluster (GCS, raylets, workers, drivers):
        # the zone's certificate serves and authenticates; only the zone's own CA is trusted.
        env.update(
            {
                "RAY_USE_TLS": "1",
                "RAY_TLS_SERVER_CERT": str(folder / "ray.pem"),
                "RAY_TLS_SERVER_KEY": str(folder / "ray-key.pem"),
                "RAY_TLS_CA_CERT": str(folder / "ray-ca.pem"),
            }
        )
    if zone is Zone.SERVE:
        env[names.SERVE_API_KEY_FILE] = str(paths.handed_api_key)
        env[names.SERVE_CLIENT_KEYS_FILE] = str(paths.handed_client_keys)
        env[names.SERVE_TRUSTED_KEYS_FILE] = str(paths.handed_trusted_keys(Role.SERVE))
        env[SERVE_CACHE_DIR_ENV] = str(paths.serve_cache)
        # The one-way drop: the keeper's socket, and the key request ids are signed with.
        env[DROP_SOCKET_ENV] = str(paths.drop_socket)
        env[REQUEST_ID_KEY_FILE_ENV] = str(paths.handed_request_id_key)
        env.update(serve_ingress_env(settings, paths))
    # Ray Train's placement-group cleaner (an actor of every training job) looks its
    # controller up through Ray's state API without an address: with three clusters on one
    # machine it died at once ("Found multiple active Ray instances"), and a job whose
    # controller died would have left its placement group behind. Every process of the zone
    # inherits its own cluster's address instead.
    env["RAY_ADDRESS"] = f"{settings.zone_host(zone)}:{settings.zone(zone).ports.gcs}"
    if zone in (Zone.TRAIN, Zone.SERVE):
        # Ray starts workers at nice 15; in the train and serve zones the workers (trainers,
        # replicas) are the workload, and at nice 15 they lose CPU to every daemon on the
        # node (measured: bench-train 0.89x the plain loop at 15).
        env["RAY_worker_niceness"] = "0"
    return env


def start_own_haproxy(
    paths: StatePaths,
    cfg: Path,
    run_dir: Path,
    log_name: str,
    listens_on: tuple[str, int],
    what: str,
    prefix: Sequence[str] = (),
    identity: Identity | None = None,
) -> ProcessRecord:
    """An HAProxy of the platform's own in front of the serve zone (the TLS terminator, the
    front balancer; Serve runs its own per node): in the foreground as the serve zone's
    identity, which reads its config from root's folder (``StatePaths.serve_etc``) and owns
    only ``run_dir`` (its admin socket); waited for until it listens."""
    make_dirs(
        run_dir,
        0o700,
        uid=identity.uid if identity else None,
        gid=identity.gid if identity else None,
    )
    drop = identity.drop_prefix() if identity is not None else []
    record = spawn(
        [*prefix, *drop, str(haproxy_binary()), "-db", "-f", str(cfg)],
        {"PATH": "/usr/bin:/bin"},
        paths.log_file(log_name),
        cwd=paths.service_home(Role.SERVE),
        umask=SERVICE_UMASK,
    )
    wait_until(lambda: tcp_open(*listens_on), record, what, 30)
    return record


def serve_tuning_env(settings: ServeZoneSettings) -> dict[str, str]:
    """Serve settings that hold wherever the serve zone runs (here or in ``deploy/``)."""
    env: dict[str, str] = {
        # Replicas push their load to the controller as often as the autoscaling config's
        # metrics_interval_s says (serve_config.yaml: 1 s); Ray 2.60 reads only that field
        # (its RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S is not read yet).
        # Replicas and routers hand Serve's own request counters to Ray's metrics once a
        # second (Ray: every 100 ms, ten wake-ups a second per replica at idle); Bulkhead's
        # own metrics (what the controller and `status` read) are not held by this.
        "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
        # Each node's HAProxy checks every replica's /-/healthz each second (Ray: 5 s): a
        # replica without a verified model answers 503 there (serving/ray_binds.py) and is
        # out of rotation within ~1.3 s, back as fast once it has one.
        "RAY_SERVE_HAPROXY_HEALTH_CHECK_INTER": "1s",
        # A stopping replica (scale-down, redeploy, a drained node) fails that check at once
        # and keeps answering what still arrives for this long before it exits (Ray: 30 s,
        # sized for its 5-s checks): with 1-s checks every ingress has stopped sending after
        # ~2 s, so 5 s covers it with room, and a drained node is empty in seconds.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "5",
        # Ray starts workers at nice 15; here the replicas are the workload.
        "RAY_worker_niceness": "0",
        # The replicas' request counters and latency histograms reach /metrics this often
        # (Ray: 10 s): the rollout controller and `status` read figures at most this old.
        "RAY_metrics_report_interval_ms": str(round(settings.metrics_export_s * 1000)),
    }
    if settings.throughput_optimized:
        env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
    if settings.haproxy_ingress:
        env.update(
            {
                "RAY_SERVE_ENABLE_HA_PROXY": "1",
                # Per-request HAProxy metrics make the HAProxy actor parse one log datagram per
                # request in Python; the replicas export their own request metrics instead.
                "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
                # Predictions are pure functions of the request, so a request whose replica
                # died before answering is safe to send to another replica (Ray's default
                # retries only when no connection was made; measured: 4 of 1,452 requests
                # lost to a replica kill).
                "RAY_SERVE_HAPROXY_RETRY_ON": "conn-failure empty-response",
                "RAY_SERVE_HAPROXY_RETRIES": "2",
                # A client that goes quiet mid-request (slowloris) is dropped after 30 s, not
                # the hour of Ray's template.
                "RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S": "30",
                # The ingress owns the answer deadline: a JSON 504 past it (its wrapper hands
                # the replica a deadline one second later, so no work outlives the answer).
                "RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S": str(settings.answer_timeout_s),
            }
        )
    return env


def haproxy_threads(serve: ServeZoneSettings) -> int:
    cores = min(int(serve.num_cpus), len(os.sched_getaffinity(0)))
    return max(1, cores // 2)


def haproxy_loopback_wrapper(settings: ServeZoneSettings, paths: StatePaths, node: int = 0) -> str:
    """The wrapper (bulkhead/platform/haproxy_wrapper.py) for node ``node`` of this zone: its
    own stats and metrics ports, and on a worker node (``node`` > 0) the frontend moved from
    the port Serve gives every node (the head's ``node_http``) to the node's own."""
    ports = settings.node_ingress_ports(node)
    move = (settings.node_ingress_ports(0).node_http, ports.node_http) if node > 0 else None
    return wrapper_script(
        stats_port=ports.haproxy_stats,
        metrics_port=ports.haproxy_metrics,
        request_timeout_s=settings.request_timeout_s,
        errorfile=paths.serve_etc / REQUEST_TIMEOUT_ERRORFILE,
        answer_timeout_s=settings.answer_timeout_s,
        answer_errorfile=paths.serve_etc / ANSWER_TIMEOUT_ERRORFILE,
        move_frontend=move,
    )


def haproxy_wrapper_path(paths: StatePaths, node: int = 0) -> Path:
    return paths.serve_etc / ("haproxy" if node == 0 else f"haproxy-n{node}")


def write_request_timeout_errorfile(
    settings: ServeZoneSettings, paths: StatePaths, gid: int | None
) -> Path:
    """The JSON 408 every HAProxy of the serve zone answers a trickled body with, and the
    JSON 504 each node's ingress answers when no replica answered in time."""
    errorfile = paths.serve_etc / REQUEST_TIMEOUT_ERRORFILE
    hand_to_zone(errorfile, request_timeout_response(settings.request_timeout_s), gid)
    answer = answer_timeout_response(settings.answer_timeout_s)
    hand_to_zone(paths.serve_etc / ANSWER_TIMEOUT_ERRORFILE, answer, gid)
    return errorfile


def write_haproxy_wrapper(
    settings: ServeZoneSettings, paths: StatePaths, node: int = 0, gid: int | None = None
) -> Path:
    """The wrapper Serve runs as its HAProxy, in root's folder the serve zone reads
    (``StatePaths.serve_etc``): the zone runs it and cannot change it."""
    wrapper = haproxy_wrapper_path(paths, node)
    write_request_timeout_errorfile(settings, paths, gid)
    hand_to_zone(wrapper, haproxy_loopback_wrapper(settings, paths, node), gid, executable=True)
    return wrapper


def serve_ingress_env(
    settings: PlatformSettings, paths: StatePaths, node: int = 0
) -> dict[str, str]:
    """The environment that puts the serve zone behind HAProxy in throughput mode.

    Serve reads these when its controller starts, so they belong to ``ray start``. HAProxy's
    config, its admin socket (created mode 666 by Ray's template) and its state files go to a
    0700 folder of this zone instead of the machine-wide ``/tmp/haproxy-serve`` (Ray adds a
    folder per node below it). Each node of a serve zone of several nodes gets its own ports
    (``node``: 0 = the head), read by the Serve actors of that node.
    """
    serve = settings.serve
    ports = serve.node_ingress_ports(node)
    env = serve_tuning_env(serve)
    env.update(
        {
            # Whatever ingress runs, every port Serve opens stays inside this zone's block.
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(ports.fallback_proxy_http),
            "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(ports.fallback_proxy_grpc),
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(ports.replica_http_min),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(ports.replica_http_max),
            "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(ports.replica_grpc_min),
            "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(ports.replica_grpc_max),
        }
    )
    if not serve.haproxy_ingress:
        return env
    folder = paths.haproxy_dir
    env.update(
        {
            # The loopback-binding wrapper (written by start_zone) around Ray's binary.
            "RAY_SERVE_HAPROXY_BINARY_PATH": str(haproxy_wrapper_path(paths, node)),
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(folder / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(folder / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(folder),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(folder / "server-state"),
            "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(folder / "metrics.sock"),
            # HAProxy threads: half the cores the zone may use (Ray's default is 4, and the
            # CPUs the zone advertises to Ray are not cores): the replicas need the rest.
            "RAY_SERVE_HAPROXY_NBTHREAD": str(haproxy_threads(serve)),
            "RAY_SERVE_HAPROXY_STATS_PORT": str(ports.haproxy_stats),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(ports.haproxy_metrics),
        }
    )
    return env


def start_zone(
    settings: PlatformSettings,
    paths: StatePaths,
    zone: Zone,
    prefix: Sequence[str] = (),
    identity: Identity | None = None,
) -> ZoneState:
    zs = settings.zone(zone)
    host = settings.zone_host(zone)
    token_file = paths.ray_token(zone)
    gid = identity.gid if identity is not None else None
    ray_temp_folder(paths.ray_temp_dir(zone), gid)
    if zone is Zone.SERVE and settings.serve.haproxy_ingress:
        write_haproxy_wrapper(settings.serve, paths, gid=gid)
    drop = identity.drop_prefix() if identity is not None else []
    record = spawn(
        [*prefix, *drop, *zone_command(settings, paths, zone)],
        zone_env(settings, paths, zone),
        paths.log_file(f"ray-{zone.value}"),
        cwd=paths.service_home(Role(zone.value)),
        umask=SERVICE_UMASK,
    )
    state = ZoneState(
        zone=zone,
        gcs_address=f"{host}:{zs.ports.gcs}",
        dashboard_url=f"http://{host}:{zs.ports.dashboard}",
        token_file=token_file,
        temp_dir=paths.ray_temp_dir(zone),
        process=record,
    )
    token = read_secret(token_file)

    def dashboard_ready() -> bool:
        if not tcp_open(host, zs.ports.gcs):
            return False
        try:
            response = httpx.get(
                f"{state.dashboard_url}/api/version",
                headers={"Authorization": f"Bearer {token}"},
                timeout=2,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    wait_until(dashboard_ready, record, f"the {zone} zone's Ray head", settings.startup_timeout_s)
    return state


# ------------------------------------------------------------ as services of `up`


class RegistryService(Service):
    """MLflow with bulkhead-auth; each `up` also (re)creates the zone users and grants."""

    name = "registry"

    def records(self, state: PlatformState) -> list[ProcessRecord]:
        return [state.registry.process] if state.registry is not None else []

    def forget(self, state: PlatformState, record: ProcessRecord) -> None:
        state.registry = None

    def title(self, ctx: Context) -> str:
        return f"registry (MLflow, bulkhead-auth) at {ctx.settings.registry_url}"

    def running(self, ctx: Context) -> bool:
        return super().running(ctx) and tcp_open(
            ctx.settings.registry_address, ctx.settings.registry_port
        )

    def start(self, ctx: Context) -> None:
        if ctx.state.isolation is None:
            ensure_ports_free({"registry": ctx.settings.registry_port}, "the registry")
        record = start_registry(
            ctx.settings, ctx.paths, ctx.prefix(Node.REGISTRY), ctx.identity(Role.REGISTRY)
        )
        ctx.record_started(record)
        ctx.state.registry = RegistryState(url=ctx.settings.registry_url, process=record)

    def stop(self, ctx: Context) -> int:
        registry = ctx.state.registry
        if registry is None:
            return 0
        with ctx.step(f"stop the registry (session {registry.process.pid})"):
            stop_session(registry.process)
        ctx.state.registry = None
        return 1

    def after_start(self, ctx: Context) -> None:
        registry = ctx.state.registry
        assert registry is not None
        settings, paths = ctx.settings, ctx.paths
        models = ", ".join(settings.models)
        with ctx.step(f"registry users and permissions (ingest, trainer, server) on {models}"):
            passwords = {
                user.username: provision.credentials(
                    paths, user.username
                ).password.get_secret_value()
                for user in ZONE_USERS
            }
            try:
                with provision.admin_client(paths) as admin_client:
                    registry.experiment_id = bootstrap(
                        admin_client,
                        settings.experiment_name,
                        settings.ingest_experiment_name,
                        list(settings.models),
                        passwords,
                    )
            except RegistryError as err:
                if " 401" in str(err):
                    raise RegistryError(
                        "the registry refused the admin password in "
                        f"{paths.registry_credentials(provision.ADMIN_USER)}; its auth database "
                        f"{paths.auth_db} was created with another one"
                    ) from err
                raise
            ctx.save()


class ZoneService(Service):
    """One zone's Ray head (`ray start --head --block`, the session leader `down` stops)."""

    stops_in_parallel = True
    starts_in_parallel = True

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.name = f"{zone.value} zone"

    def records(self, state: PlatformState) -> list[ProcessRecord]:
        found = state.zones.get(self.zone)
        return [found.process] if found is not None else []

    def forget(self, state: PlatformState, record: ProcessRecord) -> None:
        state.zones.pop(self.zone, None)

    def title(self, ctx: Context) -> str:
        zs = ctx.settings.zone(self.zone)
        return (
            f"{self.zone} zone: Ray cluster at {ctx.settings.zone_host(self.zone)}:"
            f"{zs.ports.gcs} ({zs.num_cpus:g} CPU, token auth)"
        )

    def running(self, ctx: Context) -> bool:
        gcs = ctx.settings.zone(self.zone).ports.gcs
        return super().running(ctx) and tcp_open(ctx.settings.zone_host(self.zone), gcs)

    def start(self, ctx: Context) -> None:
        zone, settings, state = self.zone, ctx.settings, ctx.state
        stale = state.zones.pop(zone, None)
        if stale is not None:
            stop_ray_node(stale.process)
        if zone is Zone.SERVE:  # worker nodes of a head that is gone rejoin a new one
            for record in state.serve_workers().values():
                stop_ray_node(record)
                state.forget_record(record)
        ports = settings.zone(zone).ports.listening()
        if zone is Zone.SERVE and settings.serve.multi_node:
            ports["serve head ingress"] = settings.serve.ingress_ports.node_http
        elif zone is Zone.SERVE:
            ports["serve http"] = settings.serve_http_port
        if state.isolation is None:
            ensure_ports_free(ports, f"the {zone} zone")
        zone_state = start_zone(
            settings, ctx.paths, zone, ctx.prefix(ZONE_NODES[zone]), ctx.identity(Role(zone.value))
        )
        ctx.record_started(zone_state.process)
        state.zones[zone] = zone_state

    def stop_record(self, record: ProcessRecord) -> None:
        stop_ray_node(record)

    def after_stop(self, ctx: Context) -> None:
        if self.zone is not Zone.SERVE:
            return
        # HAProxy's config, admin socket and state (the nodes' and the balancer's), and the
        # replicas' downloaded bundles: nothing a zone planted there waits for the next `up`.
        from bulkhead.platform import balancer

        shutil.rmtree(ctx.paths.haproxy_dir, ignore_errors=True)
        shutil.rmtree(balancer.folder(ctx.paths), ignore_errors=True)
        shutil.rmtree(ctx.paths.serve_cache, ignore_errors=True)
