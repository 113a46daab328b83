"""Bring the local platform up, report on it, and take it down again.

``up`` is idempotent: services that already run (same PID, same start time, port answering)
are reused. If a step fails, ``up`` stops what this call started, says which step failed and
why, and leaves what was already running before it alone.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bulkhead.platform import (
    balancer,
    drop_keeper,
    handover,
    identity,
    serve_nodes,
    services,
    tls_terminator,
    zone_files,
)
from bulkhead.platform import tls as tls_files
from bulkhead.platform.isolation import ZONE_NODES, IsolationError, IsolationLayout, Node
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import (
    ServiceStartError,
    ensure_ports_free,
    is_alive,
    spawn,
    stop_ray_node,
    stop_session,
    tcp_open,
)
from bulkhead.platform.report import LogReporter, Reporter
from bulkhead.platform.secrets import ensure_secret_dir, ensure_token, write_secret
from bulkhead.platform.settings import ModelSpec, PlatformSettings, Zone
from bulkhead.platform.state import PlatformState, RegistryState
from bulkhead.platform.status import (
    DropStatus,
    PlatformStatus,
    ServeNodeStatus,
    ServingView,
    ZoneStatus,
)
from contracts.tags import CHAMPION
from drop.keeper import KeeperStats
from registry.admin import ZONE_USERS, RegistryAdmin, RegistryError, bootstrap
from registry.credentials import RegistryCredentials
from serving.client import ServeClient, ServeEndpoint, ServeError

ADMIN_USER = "admin"


class PlatformError(RuntimeError):
    """A platform step failed; the message names the step and the cause."""


class Platform:
    def __init__(self, settings: PlatformSettings, reporter: Reporter | None = None) -> None:
        self.base_settings = settings
        self.paths = StatePaths.at(settings.home)
        self.reporter: Reporter = reporter or LogReporter()
        self.settings = self._effective(self.load_state())

    @property
    def model(self) -> ModelSpec:
        return self.settings.model

    def model_snapshot(self) -> Path | None:
        """The newest snapshot `ingest` wrote for the current model, if it still exists."""
        found = self.load_state().latest_snapshots.get(self.settings.model_name)
        return found if found is not None and found.is_dir() else None

    def _effective(self, state: PlatformState) -> PlatformSettings:
        """The settings as the running platform uses them: with TLS under `up --tls`, each
        service at its namespace's address under `up --isolate`."""
        settings = self.base_settings.with_tls() if state.tls else self.base_settings
        if state.serve_nodes > 1:
            settings = settings.with_serve_nodes(state.serve_nodes)
        return state.isolation.apply(settings) if state.isolation is not None else settings

    def _prefix(self, state: PlatformState, node: Node) -> list[str]:
        return state.isolation.exec_prefix(node) if state.isolation is not None else []

    # ------------------------------------------------------------ helpers

    def load_state(self) -> PlatformState:
        return PlatformState.load(self.paths.state_file)

    def save_state(self, state: PlatformState) -> None:
        self.paths.home.mkdir(parents=True, exist_ok=True)
        state.save(self.paths.state_file)

    @contextmanager
    def _step(self, title: str) -> Iterator[None]:
        started = time.monotonic()
        with self.reporter.step(title):
            try:
                yield
            except (ServiceStartError, RegistryError, OSError) as err:
                self.reporter.fail(f"{title} failed: {err}")
                raise PlatformError(f"{title}: {err}") from err
        self.reporter.done(f"{title} ({time.monotonic() - started:.1f} s)")

    def credentials(self, user: str) -> RegistryCredentials:
        return RegistryCredentials.from_file(self.paths.registry_credentials(user))

    def admin_client(self) -> RegistryAdmin:
        admin = self.credentials(ADMIN_USER)
        return RegistryAdmin(
            admin.tracking_uri,
            admin.username,
            admin.password.get_secret_value(),
            verify=admin.verify,
        )

    # ------------------------------------------------------------ secrets

    def _ensure_secrets(self) -> None:
        paths = self.paths
        ensure_secret_dir(paths.secrets)
        ensure_token(paths.flask_secret)
        api_key = ensure_token(paths.serve_api_key)
        ensure_token(paths.request_id_key)
        write_secret(paths.serve_auth_header, f"Authorization: Bearer {api_key}\n")
        for zone in Zone:
            ensure_token(paths.ray_token(zone))
        url = self.settings.registry_url
        ca_file = tls_files.files(paths).ca_cert if self.settings.tls else None
        admin_file = paths.registry_credentials(ADMIN_USER)
        given = self.settings.admin_password
        if admin_file.exists():
            stored = self.credentials(ADMIN_USER)
            if given is not None and given.get_secret_value() != stored.password.get_secret_value():
                raise PlatformError(
                    "BULKHEAD_ADMIN_PASSWORD differs from the admin password this platform "
                    f"was created with ({admin_file}); unset it or rotate it in the registry"
                )
        password = given.get_secret_value() if given is not None else pysecrets.token_urlsafe(24)
        users = [ADMIN_USER, *(user.username for user in ZONE_USERS)]
        for user in users:
            file = paths.registry_credentials(user)
            if file.exists():
                current = self.credentials(user)
                if current.tracking_uri == url and current.ca_file == ca_file:
                    continue
                secret = current.password.get_secret_value()
            else:
                secret = password if user == ADMIN_USER else pysecrets.token_urlsafe(24)
            creds = RegistryCredentials.model_validate(
                {"tracking_uri": url, "username": user, "password": secret, "ca_file": ca_file}
            )
            write_secret(file, creds.to_json())

    # ------------------------------------------------------------ up

    def up(
        self, isolate: bool = False, tls: bool = False, serve_nodes: int | None = None
    ) -> PlatformState:
        state = self.load_state()
        started: list[Any] = []
        self.paths.home.mkdir(parents=True, exist_ok=True)
        self._up_modes(state, isolate=isolate, tls=tls)
        self._up_serve_nodes(state, serve_nodes, isolate=isolate)
        try:
            with self._step("secrets (.bulkhead/secrets, mode 0600)"):
                self._ensure_secrets()
            self._up_identities(state)
            self._up_registry(state, started)
            self._up_drop_keeper(state, started)
            for zone in Zone:
                self._up_zone(state, zone, started)
            self._up_rollout_controller(state, started)
        except (PlatformError, KeyboardInterrupt):
            if started:
                self.reporter.warn(f"stopping the {len(started)} service(s) this call started")
                for record in reversed(started):
                    stop_session(record)
                state = self._forget_dead(state)
                self.save_state(state)
            raise
        self.save_state(state)
        return state

    def _up_identities(self, state: PlatformState) -> None:
        """Each service its own Unix user (as root), its own folders, its own secrets."""
        title = (
            "identities: one Unix user per zone and the registry (bulkhead-*), own folders and "
            "secrets"
            if identity.separate_identities_possible()
            else "identities: not root, so every zone runs as this user (own folders and "
            "secrets, but file permissions do not separate the zones)"
        )
        with self._step(title):
            try:
                state.identities = identity.ensure()
                handover.prepare_folders(self.settings, self.paths, state.identities)
                handover.hand_over_secrets(self.settings, self.paths, state.identities)
            except (identity.IdentityError, handover.HandoverError) as err:
                raise PlatformError(f"identities: {err}") from err
            except zone_files.ZoneFileError as err:
                # A link or a foreign owner where root was about to write: refused, named.
                raise PlatformError(f"folders: {err}") from err
        self.save_state(state)

    def _identity(self, state: PlatformState, role: identity.Role) -> identity.Identity | None:
        return state.identities.of(role) if state.identities is not None else None

    def _up_modes(self, state: PlatformState, isolate: bool, tls: bool) -> None:
        """Switch TLS on and create (or re-create after a reboot) the namespaces of
        `up --isolate`; both only while nothing runs."""
        state = self._forget_dead(state)
        running = state.registry is not None or bool(state.zones)
        if tls and not state.tls:
            if running:
                raise PlatformError(
                    "the platform runs without TLS; `bulkhead down` before `up --tls`"
                )
            state.tls = True
        if state.tls:
            with self._step("TLS: platform CA and one certificate per service (secrets/tls)"):
                settings = self._effective(state)
                tls_files.ensure(settings, self.paths)
            self.save_state(state)
            self.settings = self._effective(state)
        layout = state.isolation
        if isolate and layout is None:
            if running:
                raise PlatformError(
                    "the platform runs without isolation; `bulkhead down` before `up --isolate`"
                )
            layout = IsolationLayout.for_platform(
                str(self.paths.home),
                self.base_settings.registry_port,
                self.base_settings.isolation_subnet,
            )
        if layout is None or (layout.exists() and running):
            return
        with self._step(
            f"network namespaces {', '.join(layout.namespaces.values())} (registry at "
            f"{layout.registry_address}; zones reach only the registry)"
        ):
            try:
                layout.create()
            except IsolationError as err:
                raise PlatformError(f"--isolate: {err}") from err
        state.isolation = layout
        self.save_state(state)
        self.settings = self._effective(state)

    def _up_serve_nodes(self, state: PlatformState, nodes: int | None, isolate: bool) -> None:
        """How many nodes the serve zone runs: ``nodes`` (`--serve-nodes`), else what it runs
        with, else BULKHEAD_SERVE__NODES. Changing it needs the serve zone down."""
        serve = state.zones.get(Zone.SERVE)
        running = serve is not None and is_alive(serve.process)
        wanted = nodes or (state.serve_nodes if running else self.base_settings.serve.nodes)
        if wanted == state.serve_nodes:
            return
        if running:
            raise PlatformError(
                f"the serve zone runs with {state.serve_nodes} node(s); `bulkhead down` before "
                f"`up --serve-nodes {wanted}`"
            )
        if wanted > 1 and (isolate or state.isolation is not None or state.tls):
            raise PlatformError(
                "--serve-nodes > 1 with --isolate or --tls is not built yet (docs/nodes.md)"
            )
        state.serve_nodes = wanted
        self.save_state(state)
        self.settings = self._effective(state)

    def _forget_dead(self, state: PlatformState) -> PlatformState:
        if state.registry and not is_alive(state.registry.process):
            state.registry = None
        state.zones = {z: s for z, s in state.zones.items() if is_alive(s.process)}
        if state.rollout_controller and not is_alive(state.rollout_controller):
            state.rollout_controller = None
        if state.drop_keeper and not is_alive(state.drop_keeper):
            state.drop_keeper = None
        state.serve_workers = {k: r for k, r in state.serve_workers.items() if is_alive(r)}
        if state.balancer and not is_alive(state.balancer):
            state.balancer = None
        return state

    def _registry_running(self, state: PlatformState) -> bool:
        return (
            state.registry is not None
            and is_alive(state.registry.process)
            and tcp_open(self.settings.registry_address, self.settings.registry_port)
        )

    def _up_registry(self, state: PlatformState, started: list[Any]) -> None:
        title = f"registry (MLflow, bulkhead-auth) at {self.settings.registry_url}"
        if self._registry_running(state):
            self.reporter.done(f"{title} (already running)")
        else:
            with self._step(title):
                if state.isolation is None:
                    ensure_ports_free({"registry": self.settings.registry_port}, "the registry")
                record = services.start_registry(
                    self.settings,
                    self.paths,
                    self._prefix(state, Node.REGISTRY),
                    self._identity(state, identity.Role.REGISTRY),
                )
                started.append(record)
                state.registry = RegistryState(url=self.settings.registry_url, process=record)
                self.save_state(state)
        assert state.registry is not None
        models = ", ".join(self.settings.models)
        with self._step(f"registry users and permissions (ingest, trainer, server) on {models}"):
            passwords = {
                user.username: self.credentials(user.username).password.get_secret_value()
                for user in ZONE_USERS
            }
            try:
                with self.admin_client() as admin_client:
                    state.registry.experiment_id = bootstrap(
                        admin_client,
                        self.settings.experiment_name,
                        self.settings.ingest_experiment_name,
                        list(self.settings.models),
                        passwords,
                    )
            except RegistryError as err:
                if " 401" in str(err):
                    raise RegistryError(
                        "the registry refused the admin password in "
                        f"{self.paths.registry_credentials(ADMIN_USER)}; its auth database "
                        f"{self.paths.auth_db} was created with another one"
                    ) from err
                raise
            self.save_state(state)

    def _serving_status(self) -> ServingView:
        """What the serve app says it serves and refused: a bad artifact's reason shows here."""
        try:
            with ServeClient(self.serve_endpoint(), timeout_s=3) as client:
                answer = client.status()
        except ServeError as err:
            return ServingView(unreachable=f"serve app answered {err.status_code}")
        except (httpx.HTTPError, OSError, ValueError) as err:
            return ServingView(unreachable=f"serve app not answering: {err}")
        return ServingView(**answer.model_dump(include=set(ServingView.model_fields)))

    def serve_endpoint(self) -> ServeEndpoint:
        """The serve zone's URL, the API key file and, under `up --tls`, the platform CA."""
        verify = services.tls_verify(self.settings, self.paths)
        return ServeEndpoint(
            url=self.settings.serve_url,
            api_key_file=self.paths.serve_api_key,
            ca_file=Path(verify) if isinstance(verify, str) else None,
        )

    def _zone_running(self, state: PlatformState, zone: Zone) -> bool:
        zone_state = state.zones.get(zone)
        return (
            zone_state is not None
            and is_alive(zone_state.process)
            and tcp_open(self.settings.zone_host(zone), self.settings.zone(zone).ports.gcs)
        )

    def _up_zone(self, state: PlatformState, zone: Zone, started: list[Any]) -> None:
        zs = self.settings.zone(zone)
        title = (
            f"{zone} zone: Ray cluster at {self.settings.zone_host(zone)}:{zs.ports.gcs} "
            f"({zs.num_cpus:g} CPU, token auth)"
        )
        if self._zone_running(state, zone):
            self.reporter.done(f"{title} (already running)")
        else:
            self._start_zone(state, zone, title, started)
        if zone is Zone.SERVE and self.settings.serve.multi_node:
            self._up_serve_workers(state, started)
            self._up_balancer(state, started)
        if zone is Zone.SERVE and tls_terminator.used(self.settings):
            self._up_tls_terminator(state, started)

    def _start_zone(self, state: PlatformState, zone: Zone, title: str, started: list[Any]) -> None:
        zs = self.settings.zone(zone)
        with self._step(title):
            stale = state.zones.pop(zone, None)
            if stale is not None:
                stop_ray_node(stale.process)
            if zone is Zone.SERVE:  # worker nodes of a head that is gone rejoin a new one
                for record in state.serve_workers.values():
                    stop_ray_node(record)
                state.serve_workers = {}
            ports = zs.ports.listening()
            if zone is Zone.SERVE and self.settings.serve.multi_node:
                ports["serve head ingress"] = self.settings.serve.ingress_ports.node_http
            elif zone is Zone.SERVE:
                ports["serve http"] = self.settings.serve_http_port
            if state.isolation is None:
                ensure_ports_free(ports, f"the {zone} zone")
            zone_state = services.start_zone(
                self.settings,
                self.paths,
                zone,
                self._prefix(state, ZONE_NODES[zone]),
                self._identity(state, identity.Role(zone.value)),
            )
            started.append(zone_state.process)
            state.zones[zone] = zone_state
            self.save_state(state)

    def _up_serve_workers(self, state: PlatformState, started: list[Any]) -> None:
        head = state.zones[Zone.SERVE]
        serve = self.settings.serve
        for node in range(1, serve.nodes):
            record = state.serve_workers.get(node)
            title = (
                f"serve worker node {node}: joins {head.gcs_address} ({serve.num_cpus:g} CPU, "
                f"ingress at {balancer.node_address(self.settings, node)})"
            )
            if record is not None and is_alive(record):
                self.reporter.done(f"{title} (already running)")
                continue
            with self._step(title):
                ensure_ports_free(
                    {
                        **serve.node_ports(node).listening(),
                        "node ingress": serve.node_ingress_ports(node).node_http,
                    },
                    f"serve worker node {node}",
                )
                record = serve_nodes.start_worker(
                    self.settings,
                    self.paths,
                    node,
                    head.gcs_address,
                    identity=self._identity(state, identity.Role.SERVE),
                )
                started.append(record)
                state.serve_workers[node] = record
                self.save_state(state)

    def _up_balancer(self, state: PlatformState, started: list[Any]) -> None:
        title = (
            f"front balancer (HAProxy) at {self.settings.serve_url} over "
            f"{self.settings.serve.nodes} serve nodes' ingresses"
        )
        if state.balancer is not None and is_alive(state.balancer):
            self.reporter.done(f"{title} (already running)")
            return
        with self._step(title):
            ensure_ports_free({"serve http": self.settings.serve_http_port}, "the balancer")
            record = balancer.start(
                self.settings, self.paths, identity=self._identity(state, identity.Role.SERVE)
            )
            started.append(record)
            state.balancer = record
            self.save_state(state)

    def _up_tls_terminator(self, state: PlatformState, started: list[Any]) -> None:
        if state.tls_terminator is not None and is_alive(state.tls_terminator):
            return
        title = f"HTTPS for the serve zone at {self.settings.serve_url} (TLS terminator)"
        with self._step(title):
            record = tls_terminator.start(
                self.settings,
                self.paths,
                self._prefix(state, Node.SERVE),
                self._identity(state, identity.Role.SERVE),
            )
            started.append(record)
            state.tls_terminator = record
            self.save_state(state)

    def _up_drop_keeper(self, state: PlatformState, started: list[Any]) -> None:
        """The one writer of the serve -> ingest drop, as its own identity (drop/keeper.py)."""
        if state.drop_keeper is not None and is_alive(state.drop_keeper):
            return
        who = "bulkhead-drop" if state.identities is not None else "the operator"
        with self._step(f"payload and feedback drop keeper ({who}) at {self.paths.drop_records}"):
            record = drop_keeper.start(self.paths, state.identities)
            started.append(record)
            state.drop_keeper = record
            self.save_state(state)

    def _up_rollout_controller(self, state: PlatformState, started: list[Any]) -> None:
        """The unattended rollout controller: the operator's process, with the operator's
        registry credentials, never inside a zone (bulkhead/delivery/controller.py)."""
        if state.rollout_controller is not None and is_alive(state.rollout_controller):
            return
        with self._step("rollout controller (`bulkhead rollout watch --forever`, as the operator)"):
            record = spawn(
                [str(services.venv_bin() / "bulkhead"), "rollout", "watch", "--forever"],
                # The operator's environment (its BULKHEAD_* settings) with the home made
                # absolute: the process runs from inside it.
                env={
                    **os.environ,
                    "BULKHEAD_HOME": str(self.paths.home.resolve()),
                    "PYTHONUNBUFFERED": "1",
                },
                log=self.paths.log_file("rollout-controller"),
                cwd=self.paths.home,
            )
            started.append(record)
            state.rollout_controller = record
            self.save_state(state)

    # ------------------------------------------------------------ down

    def down(self, purge: bool = False) -> int:
        """Stop the zones (in parallel: each may take its grace period), then the registry."""
        from concurrent.futures import ThreadPoolExecutor

        state = self.load_state()
        zones = [state.zones.pop(zone) for zone in reversed(list(Zone)) if zone in state.zones]
        stopped = 0
        if state.rollout_controller is not None:
            stop_session(state.rollout_controller)
            state.rollout_controller = None
            stopped += 1
        if state.tls_terminator is not None:
            stop_session(state.tls_terminator)
            state.tls_terminator = None
            stopped += 1
        if state.balancer is not None:
            with self._step(f"drain and stop the front balancer (up to {balancer.DRAIN_S:.0f} s)"):
                balancer.drain_and_stop(state.balancer)
            state.balancer = None
            stopped += 1
        workers = list(state.serve_workers.values())
        state.serve_workers = {}
        # Worker nodes and zones at once: each stop waits out its processes' grace, and a
        # worker node whose head goes first is stopped all the same (what is left is killed).
        sessions = [*workers, *(z.process for z in zones)]
        if sessions:
            named = [f"the {', '.join(z.zone.value for z in zones)} zone(s)"] if zones else []
            if workers:
                named.append(f"{len(workers)} serve worker node(s)")
            with (
                self._step(f"stop {' and '.join(named)}"),
                ThreadPoolExecutor(max_workers=len(sessions)) as pool,
            ):
                list(pool.map(stop_ray_node, sessions))
            stopped += len(sessions)
        if zones:
            # HAProxy's config, admin socket and state (the nodes' and the balancer's), and
            # the replicas' downloaded bundles: nothing a zone planted there waits for `up`.
            shutil.rmtree(self.paths.haproxy_dir, ignore_errors=True)
            shutil.rmtree(balancer.folder(self.paths), ignore_errors=True)
            shutil.rmtree(self.paths.serve_cache, ignore_errors=True)
            self.save_state(state)
        if state.drop_keeper is not None:  # after the replicas: their last flush lands
            stop_session(state.drop_keeper)
            state.drop_keeper = None
            stopped += 1
        if state.registry is not None:
            with self._step(f"stop the registry (session {state.registry.process.pid})"):
                stop_session(state.registry.process)
            state.registry = None
            stopped += 1
        if state.isolation is not None:
            layout = state.isolation
            with self._step(f"remove network namespaces {', '.join(layout.namespaces.values())}"):
                layout.destroy()
            state.isolation = None
        state.tls = False
        state.serve_nodes = 1
        self.settings = self._effective(state)
        self.save_state(state)
        if purge:
            for zone in Zone:
                shutil.rmtree(self.paths.ray_temp_dir(zone), ignore_errors=True)
            for node in range(1, self.base_settings.serve.nodes + 3):
                shutil.rmtree(serve_nodes.worker_temp_dir(self.paths, node), ignore_errors=True)
            shutil.rmtree(self.paths.haproxy_dir, ignore_errors=True)
            shutil.rmtree(self.paths.home, ignore_errors=True)
            # Everything `up` made under /tmp, when it is ours (never another user's folder).
            zone_files.remove_root_folder(self.paths.short_root)
            self.reporter.done(f"removed {self.paths.home}")
        return stopped

    # ------------------------------------------------------------ status

    def _drop_status(self, state: PlatformState) -> DropStatus | None:
        keeper = state.drop_keeper
        counted = drop_keeper.stats(self.paths)
        if keeper is None and counted is None:
            return None
        counted = counted or KeeperStats()
        return DropStatus(
            pid=keeper.pid if keeper is not None and is_alive(keeper) else None,
            records_dir=str(self.paths.drop_records),
            records=counted.records,
            bytes=counted.bytes,
            refused=counted.invalid + counted.refused_sender + counted.truncated,
            dropped_full=counted.dropped_full,
            by_model=counted.by_model,
        )

    def _serve_node_status(self, state: PlatformState, head: ZoneStatus) -> list[ServeNodeStatus]:
        serve = self.settings.serve
        if not serve.multi_node:
            return [
                ServeNodeStatus(
                    node=0,
                    ingress=f"{self.settings.serve_host}:{self.settings.serve_http_port}",
                    state=head.state,
                    pid=head.pid,
                )
            ]
        checks = {b.node: b.status for b in balancer.backends(self.paths)}
        nodes = [
            ServeNodeStatus(
                node=0,
                ingress=balancer.node_address(self.settings, 0),
                state=head.state,
                pid=head.pid,
                balancer_check=checks.get(0),
            )
        ]
        for node in range(1, serve.nodes):
            record = state.serve_workers.get(node)
            alive = record is not None and is_alive(record)
            nodes.append(
                ServeNodeStatus(
                    node=node,
                    ingress=balancer.node_address(self.settings, node),
                    state="running" if alive else "stopped",
                    pid=record.pid if record is not None and alive else None,
                    balancer_check=checks.get(node),
                )
            )
        return nodes

    def status(self) -> PlatformStatus:
        state = self.load_state()
        registry_up = self._registry_running(state)
        champions: dict[str, str | None] = dict.fromkeys(self.settings.models)
        registry_error: str | None = None
        if registry_up:
            try:
                with self.admin_client() as admin_client:
                    for name in champions:
                        champions[name] = admin_client.alias_version(name, CHAMPION)
            except (RegistryError, httpx.HTTPError, OSError) as err:
                registry_error = str(err)
        zones = {}
        for zone in Zone:
            zs = self.settings.zone(zone)
            zone_state = state.zones.get(zone)
            alive = zone_state is not None and is_alive(zone_state.process)
            host = self.settings.zone_host(zone)
            answering = tcp_open(host, zs.ports.gcs)
            zones[zone.value] = ZoneStatus(
                address=f"{host}:{zs.ports.gcs}",
                dashboard_url=f"http://{host}:{zs.ports.dashboard}",
                network_namespace=(
                    state.isolation.namespaces[ZONE_NODES[zone]] if state.isolation else None
                ),
                state="running" if alive and answering else ("starting" if alive else "stopped"),
                pid=zone_state.process.pid if zone_state and alive else None,
                num_cpus=zs.num_cpus,
                token_file=str(self.paths.ray_token(zone)),
            )
        serving = self._serving_status() if zones["serve"].state == "running" else None
        return PlatformStatus(
            serve_nodes=self._serve_node_status(state, zones["serve"]),
            balancer_pid=state.balancer.pid
            if state.balancer is not None and is_alive(state.balancer)
            else None,
            serving=serving,
            serve_url=self.settings.serve_url,
            mlflow_url=self.settings.registry_url,
            registry_state="running" if registry_up else "stopped",
            registry_error=registry_error,
            model_name=self.settings.model_name,
            experiment_name=self.settings.experiment_name,
            champion_version=champions.get(self.settings.model_name),
            champions=champions,
            api_key_file=str(self.paths.serve_api_key),
            secrets_dir=str(self.paths.secrets),
            latest_snapshots={name: str(path) for name, path in state.latest_snapshots.items()},
            isolated=state.isolation is not None,
            tls=state.tls,
            drop=self._drop_status(state),
            rollout_controller_pid=(
                state.rollout_controller.pid
                if state.rollout_controller and is_alive(state.rollout_controller)
                else None
            ),
            identities=(
                {role.value: ident.name for role, ident in state.identities.roles.items()}
                if state.identities is not None
                else None
            ),
            zones=zones,
        )
