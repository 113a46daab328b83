"""Bring the local platform up, report on it, and take it down again.

``up`` is idempotent: services that already run (same PID, same start time, port answering)
are reused. If a step fails, ``up`` stops what this call started, says which step failed and
why, and leaves what was already running before it alone. Every service is one entry of
``SERVICES`` (bulkhead/platform/service_list.py): ``up`` starts them in that order, ``down``
stops them in reverse, ``status`` asks each.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from bulkhead.platform import (
    handover,
    identity,
    modes,
    provision,
    serve_nodes,
    services,
    zone_files,
)
from bulkhead.platform.errors import PlatformError
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ServiceStartError, stop_session
from bulkhead.platform.report import LogReporter, Reporter
from bulkhead.platform.service import Context, Service, start_batches, stop_batches, up_together
from bulkhead.platform.service_list import SERVICES
from bulkhead.platform.settings import ModelSpec, PlatformSettings, Zone
from bulkhead.platform.state import PlatformState
from bulkhead.platform.status import PlatformStatus
from bulkhead.platform.status_report import collect
from registry.admin import RegistryAdmin, RegistryError
from registry.credentials import RegistryCredentials
from serving.client import ServeEndpoint

__all__ = ["Platform", "PlatformError"]


class Platform:
    def __init__(
        self,
        settings: PlatformSettings,
        reporter: Reporter | None = None,
        services_list: tuple[Service, ...] = SERVICES,
        *,
        model: str | None = None,
    ) -> None:
        """``model``: the registered model the commands on this platform act on (None: the
        default model); an unknown name raises ValueError."""
        self.base_settings = settings
        self.model_name = settings.model_named(model)
        self.paths = StatePaths.at(settings.home)
        self.reporter: Reporter = reporter or LogReporter()
        self.services = services_list
        self.settings = modes.effective(settings, self.load_state())

    @property
    def model(self) -> ModelSpec:
        """The spec (data set, task) of the model this platform's commands act on."""
        return self.settings.models[self.model_name]

    def acting_on(self, model: str) -> Platform:
        """The same platform, acting on ``model``."""
        return Platform(self.base_settings, self.reporter, self.services, model=model)

    def model_snapshot(self) -> Path | None:
        """The newest snapshot `ingest` wrote for this model, if it still exists."""
        found = self.load_state().latest_snapshots.get(self.model_name)
        return found if found is not None and found.is_dir() else None

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

    def _context(self, state: PlatformState) -> Context:
        return Context(
            settings=self.settings,
            paths=self.paths,
            state=state,
            reporter=self.reporter,
            step=self._step,
            save=lambda: self.save_state(state),
        )

    def credentials(self, user: str) -> RegistryCredentials:
        return provision.credentials(self.paths, user)

    def admin_client(self) -> RegistryAdmin:
        return provision.admin_client(self.paths)

    def serve_endpoint(self) -> ServeEndpoint:
        """The serve zone's URL, the API key file and, under `up --tls`, the platform CA."""
        verify = services.tls_verify(self.settings, self.paths)
        return ServeEndpoint(
            url=self.settings.serve_url,
            api_key_file=self.paths.serve_api_key,
            ca_file=Path(verify) if isinstance(verify, str) else None,
        )

    def _forget_dead(self, state: PlatformState) -> PlatformState:
        for service in self.services:
            service.forget_dead(state)
        return state

    # ------------------------------------------------------------ up

    def up(
        self, isolate: bool = False, tls: bool = False, serve_nodes: int | None = None
    ) -> PlatformState:
        state = self._forget_dead(self.load_state())
        self.paths.home.mkdir(parents=True, exist_ok=True)
        ctx = self._context(state)
        modes.switch_on(
            self.base_settings,
            self.paths,
            state,
            isolate=isolate,
            tls=tls,
            step=self._step,
            save=ctx.save,
        )
        if modes.choose_serve_nodes(self.base_settings, state, serve_nodes, isolate=isolate):
            ctx.save()
        self.settings = ctx.settings = modes.effective(self.base_settings, state)
        try:
            with self._step("secrets (.bulkhead/secrets, mode 0600)"):
                try:
                    provision.ensure_secrets(self.settings, self.paths)
                except provision.SecretsError as err:
                    raise PlatformError(str(err)) from err
            self._up_identities(state)
            wanted = [service for service in self.services if service.wanted(self.settings)]
            for batch in start_batches(wanted):
                if len(batch) > 1:
                    up_together(batch, ctx)
                else:
                    batch[0].up(ctx)
        except (PlatformError, KeyboardInterrupt):
            if ctx.started:
                self.reporter.warn(f"stopping the {len(ctx.started)} service(s) this call started")
                for record in reversed(ctx.started):
                    stop_session(record)
                self.save_state(self._forget_dead(state))
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

    def restart(self, key: str) -> bool:
        """Stop and start again the one service whose record is ``key`` (a key rotation
        hands the signer a new key); False when it was not running."""
        state = self._forget_dead(self.load_state())
        ctx = self._context(state)
        service = next(s for s in self.services if s.key == key)
        if not service.records(state):
            return False
        service.stop(ctx)
        ctx.save()
        service.up(ctx)
        self.save_state(state)
        return True

    # ------------------------------------------------------------ down

    def down(self, purge: bool = False) -> int:
        """Stop every service in reverse order: Ray nodes at once (each may take its grace
        period), the drop keeper after the replicas (their last records land), the registry
        last."""
        state = self.load_state()
        ctx = self._context(state)
        stopped = 0
        for batch in stop_batches(list(reversed(self.services))):
            running = [service for service in batch if service.records(state)]
            if not running:
                continue
            if len(running) > 1:
                names = " and ".join(service.name for service in running)
                with self._step(f"stop {names}"), ThreadPoolExecutor(len(running)) as pool:
                    stopped += sum(pool.map(lambda service: service.stop(ctx), running))
            elif running[0].stops_in_parallel:
                with self._step(f"stop {running[0].name}"):
                    stopped += running[0].stop(ctx)
            else:
                stopped += running[0].stop(ctx)
            for service in batch:  # once the whole batch is down (HAProxy's folders...)
                service.after_stop(ctx)
            ctx.save()
        # A record no service in the list claims (one a removed or renamed service kept):
        # still this platform's process, so stopped too, never left behind.
        for key, record in list(state.processes.items()):
            with self._step(f"stop {key} (no service claims it)"):
                stop_session(record)
            state.forget_record(record)
            stopped += 1
        modes.switch_off(state, self._step)
        self.settings = modes.effective(self.base_settings, state)
        self.save_state(state)
        if purge:
            self._purge()
        return stopped

    def _purge(self) -> None:
        for zone in Zone:
            shutil.rmtree(self.paths.ray_temp_dir(zone), ignore_errors=True)
        for node in range(1, self.base_settings.serve.nodes + 3):
            shutil.rmtree(serve_nodes.worker_temp_dir(self.paths, node), ignore_errors=True)
        shutil.rmtree(self.paths.haproxy_dir, ignore_errors=True)
        shutil.rmtree(self.paths.home, ignore_errors=True)
        # Everything `up` made under /tmp, when it is ours (never another user's folder).
        zone_files.remove_root_folder(self.paths.short_root)
        self.reporter.done(f"removed {self.paths.home}")

    # ------------------------------------------------------------ status

    def status(self) -> PlatformStatus:
        ctx = self._context(self.load_state())
        return collect(ctx, self.services, self.serve_endpoint(), self.model_name)
