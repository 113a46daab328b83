"""``bulkhead rollout start|status|abort|watch``: progressive delivery, as the trainer.

The operator's side only: the registry state is written here, the controller reads the
serve zone's metrics endpoints; replicas follow the state on their own polls.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from bulkhead.operations.errors import BadInput, Refused
from bulkhead.platform.core import Platform
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import ROLLOUT_CONTROLLER
from contracts.rollout import RolloutEvent, RolloutPolicy, RolloutState
from contracts.tags import valid_version

if TYPE_CHECKING:
    from bulkhead.delivery.controller import RolloutReport
    from registry.reader import RegistryReader
    from registry.rollouts import RolloutStore


class RolloutStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: RolloutState | None
    events: list[RolloutEvent]


def store(platform: Platform) -> RolloutStore:
    from bulkhead.operations.models import registry_writer
    from registry.rollouts import RolloutStore

    return RolloutStore(registry_writer(platform))


def metrics_urls(platform: Platform) -> list[str]:
    """The serve zone's Prometheus endpoints: every node's metrics export port (each node
    exports the replicas it runs; the head's alone would miss every replica on a worker)."""
    settings = platform.settings
    host = settings.zone_host(Zone.SERVE)
    ports = [settings.serve.node_ports(node).metrics_export for node in range(settings.serve.nodes)]
    return [f"http://{host}:{port}/metrics" for port in ports]


def start(platform: Platform, version: str, policy: RolloutPolicy, reason: str) -> RolloutState:
    from bulkhead.operations.models import registry_refusals

    try:
        valid_version(version)
    except ValueError as err:
        raise BadInput(str(err)) from err
    with registry_refusals("rollout"):
        return store(platform).start(version, policy, reason)


def status(platform: Platform) -> RolloutStatus:
    rollouts = store(platform)
    state = rollouts.current()
    return RolloutStatus(state=state, events=rollouts.events(state.id) if state else [])


def abort(platform: Platform, reason: str) -> RolloutState:
    rollouts = store(platform)
    state = rollouts.current()
    if state is None or not state.active:
        raise Refused("no rollout is running")
    aborted = rollouts.abort(state, reason)
    rollouts.record(aborted, "abort", reason)
    return aborted


def watch(
    platform: Platform,
    report_dir: Path | None,
    echo: Callable[[str], None],
    urls: list[str] | None = None,
    max_s: float | None = None,
) -> tuple[RolloutReport, Path | None]:
    """Run the controller until the rollout ends; write rollout.json and rollout.png."""
    from bulkhead.delivery.controller import RolloutController
    from bulkhead.delivery.plot import plot_rollout

    controller = RolloutController(store(platform), urls or metrics_urls(platform), echo=echo)
    report = controller.run(max_s=max_s)
    if report.state is None or not report.ticks:
        return report, None
    folder = report_dir or Path("reports") / f"rollout-{report.state.id}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rollout.json").write_text(json.dumps(report.model_dump(), indent=2))
    plot_rollout(report, folder / "rollout.png")
    return report, folder


def watch_forever(
    platform: Platform,
    echo: Callable[[str], None],
    urls: list[str] | None = None,
    idle_s: float = 2.0,
) -> None:
    """The unattended controller `up` keeps: every configured model's rollouts, each model on
    its own thread (one model's long rollout never delays another's decisions)."""
    watchers = [
        threading.Thread(
            target=_watch_model_forever,
            args=(platform.acting_on(name), echo),
            kwargs={"urls": urls, "idle_s": idle_s},
            name=f"rollouts-{name}",
            daemon=True,
        )
        for name in platform.settings.models
    ]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.join()


def _watch_model_forever(
    platform: Platform,
    echo: Callable[[str], None],
    urls: list[str] | None = None,
    idle_s: float = 2.0,
) -> None:
    """Drive one model's rollouts as they start, one at a time; a registry or metrics outage
    is logged and waited out, never the end of the process."""
    from bulkhead.delivery.controller import RolloutController
    from bulkhead.delivery.plot import plot_rollout
    from registry.reader import RegistryReader

    echo(f"rollout controller: watching {platform.model_name} every {idle_s:g} s")
    reader: RegistryReader | None = None
    while True:
        try:
            rollouts = store(platform)
            reader = reader or RegistryReader()  # after store(): it activates the credentials
            state = rollout_now(reader, rollouts)
            if state is None or not state.active:
                time.sleep(idle_s)
                continue
            controller = RolloutController(rollouts, urls or metrics_urls(platform), echo=echo)
            report = controller.run()
            if report.state is not None and report.ticks:
                folder = Path("reports") / f"rollout-{report.state.id}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "rollout.json").write_text(report.model_dump_json(indent=2))
                plot_rollout(report, folder / "rollout.png")
                echo(f"report: {folder.resolve()}")
        except Exception as err:  # the registry restarting, a network blip: wait, go on
            echo(f"rollout controller: {type(err).__name__}: {str(err)[:200]}; retrying")
            reader = None
            time.sleep(max(idle_s, 5.0))


def rollout_now(reader: RegistryReader, rollouts: RolloutStore) -> RolloutState | None:
    """The model's rollout, asked the way replicas ask: through the registry's conditional
    poll route, where "nothing changed" costs the registry about 1 ms of CPU. MLflow's own
    `get_registered_model` costs it about 18 ms and loads every version; asked every 2 s per
    model by an idle controller, it was most of the idle registry's CPU (4.5 % of a core
    against 0.6 % without the controller, two models). A model without a champion has no
    rollout route to ask (the route answers for an alias): MLflow's own call then."""
    from contracts.tags import CHAMPION
    from registry.reader import RegistryReadError

    try:
        return reader.resolve(rollouts.model_name, CHAMPION).rollout
    except RegistryReadError:
        return rollouts.current()


def controller_running(platform: Platform) -> bool:
    from bulkhead.platform.procs import is_alive

    record = platform.load_state().process(ROLLOUT_CONTROLLER)
    return record is not None and is_alive(record)


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h`` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    raw = text.strip().lower()
    try:
        if raw and raw[-1] in units:
            return float(raw[:-1]) * units[raw[-1]]
        return float(raw)
    except ValueError as err:
        raise BadInput(f"{text!r} is not a duration (e.g. 90, 90s, 5m, 1h)") from err
