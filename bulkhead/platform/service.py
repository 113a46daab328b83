"""What every service `up` starts has in common, so that `up`, `down`, forgetting dead records
and `status` are loops over one ordered list (``bulkhead/platform/service_list.py``).

Like Ray Serve's controller, which runs one state manager per concern each with its own
update and shutdown, each service (the registry, each zone, the serve worker nodes, the front
balancer, the TLS terminator, the drop keeper, the rollout controller) is a small class beside
the function that starts it: whether the settings want it, its records in the saved state,
whether it runs, how it starts and stops, and one line of status. Adding a service is one new
class and one line in the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import ClassVar

from bulkhead.platform import identity
from bulkhead.platform.errors import PlatformError
from bulkhead.platform.isolation import Node
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ProcessRecord, is_alive, stop_session
from bulkhead.platform.report import Reporter
from bulkhead.platform.settings import PlatformSettings
from bulkhead.platform.state import PlatformState
from bulkhead.platform.status import ServiceStatus


@dataclass
class Context:
    """What a service needs to start, stop or report: the platform's settings as they apply
    now (TLS, namespaces, nodes), its paths and state, and how to report and save."""

    settings: PlatformSettings
    paths: StatePaths
    state: PlatformState
    reporter: Reporter
    step: Callable[[str], AbstractContextManager[None]]
    save: Callable[[], None]
    started: list[ProcessRecord] = field(default_factory=list)

    def prefix(self, node: Node) -> list[str]:
        """The command prefix that runs in ``node``'s namespace under `up --isolate`."""
        layout = self.state.isolation
        return layout.exec_prefix(node) if layout is not None else []

    def identity(self, role: identity.Role) -> identity.Identity | None:
        identities = self.state.identities
        return identities.of(role) if identities is not None else None

    def record_started(self, record: ProcessRecord) -> None:
        """A record this `up` started: stopped again if a later step fails."""
        self.started.append(record)


class Service:
    """One kind of process `up` starts. Subclasses name it, say where its records live in
    the saved state, and how it starts; the common parts (skip what runs, step, save, stop by
    session, status) are here."""

    name: str
    # Stopped together with its neighbours in the list that say so too (Ray nodes: each
    # stop waits out its processes' grace period, so they are stopped at once).
    stops_in_parallel: ClassVar[bool] = False
    # Started together with its neighbours in the list that say so too (Ray heads: each waits
    # seconds for its GCS and dashboard, much of it not on a CPU; three in a row cost the
    # sum, three at once little more than the slowest).
    starts_in_parallel: ClassVar[bool] = False

    def wanted(self, settings: PlatformSettings) -> bool:
        return True

    # Its record's key in the saved state's one map (``PlatformState.processes``): a
    # one-process service needs nothing more there. (The registry and the zones keep richer
    # state and override ``records`` and ``forget``.)
    key: ClassVar[str] = ""

    def records(self, state: PlatformState) -> list[ProcessRecord]:
        """Its records in the saved state (what `down` stops and `cost` measures)."""
        record = state.process(self.key) if self.key else None
        return [record] if record is not None else []

    def keep(self, ctx: Context, record: ProcessRecord) -> None:
        """A record it just started: kept in the saved state (stopped again if a later step
        of this `up` fails)."""
        ctx.record_started(record)  # stopped again if anything below or later fails
        if not self.key:
            raise PlatformError(f"{type(self).__name__} keeps a record but names no key")
        ctx.state.processes[self.key] = record

    def forget(self, state: PlatformState, record: ProcessRecord) -> None:
        """Remove ``record`` from the saved state."""
        state.forget_record(record)

    def title(self, ctx: Context) -> str:
        raise NotImplementedError

    def running(self, ctx: Context) -> bool:
        """Whether it runs and answers; default: every record's process is alive."""
        found = self.records(ctx.state)
        return bool(found) and all(is_alive(record) for record in found)

    def start(self, ctx: Context) -> None:
        """Start it and put its record in ``ctx.state`` (``ctx.record_started`` too)."""
        raise NotImplementedError

    def after_start(self, ctx: Context) -> None:
        """Work each `up` does once the service runs, started now or before."""

    def up(self, ctx: Context) -> None:
        title = self.title(ctx)
        if self.running(ctx):
            ctx.reporter.done(f"{title} (already running)")
        else:
            with ctx.step(title):
                self.start(ctx)
                ctx.save()
        self.after_start(ctx)

    def stop_record(self, record: ProcessRecord) -> None:
        """Stop one record's processes: its whole session, by default."""
        stop_session(record)

    def stop(self, ctx: Context) -> int:
        """Stop every record; how many were stopped."""
        found = self.records(ctx.state)
        for record in found:
            self.stop_record(record)
            self.forget(ctx.state, record)
        return len(found)

    def after_stop(self, ctx: Context) -> None:
        """Clean-up once `down` stopped everything it stops alongside this service."""

    def forget_dead(self, state: PlatformState) -> None:
        for record in self.records(state):
            if not is_alive(record):
                self.forget(state, record)

    def status(self, ctx: Context) -> ServiceStatus:
        if not self.wanted(ctx.settings) and not self.records(ctx.state):
            return ServiceStatus(name=self.name, state="not used")
        alive = [record.pid for record in self.records(ctx.state) if is_alive(record)]
        # Running means what `up` means by it: alive and answering (a port, where it has one).
        state = "running" if alive and self.running(ctx) else ("starting" if alive else "stopped")
        return ServiceStatus(name=self.name, state=state, pids=alive)


def up_together(services: list[Service], ctx: Context) -> None:
    """`up` for a batch of services that start in parallel: those not running are started at
    once, as one step; the state is saved once every start has ended (a failure is raised
    then, with what did start recorded in ``ctx.started`` for `up` to stop)."""
    waiting = []
    for service in services:
        if service.running(ctx):
            ctx.reporter.done(f"{service.title(ctx)} (already running)")
        else:
            waiting.append(service)
    if waiting:
        with ctx.step("; ".join(service.title(ctx) for service in waiting)):
            with ThreadPoolExecutor(len(waiting)) as pool:
                futures = [pool.submit(service.start, ctx) for service in waiting]
            ctx.save()
            for future in futures:
                future.result()  # the first failure, once all have ended
    for service in services:
        service.after_start(ctx)


def start_batches(services: list[Service]) -> Iterator[list[Service]]:
    """``services`` in order, neighbours that start in parallel grouped into one batch."""
    return _batches(services, lambda service: service.starts_in_parallel)


def stop_batches(services: list[Service]) -> Iterator[list[Service]]:
    """``services`` in order, neighbours that stop in parallel grouped into one batch."""
    return _batches(services, lambda service: service.stops_in_parallel)


def _batches(
    services: list[Service], together: Callable[[Service], bool]
) -> Iterator[list[Service]]:
    batch: list[Service] = []
    for service in services:
        if together(service):
            batch.append(service)
            continue
        if batch:
            yield batch
            batch = []
        yield [service]
    if batch:
        yield batch
