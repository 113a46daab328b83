"""``bulkhead rollout start|status|abort|watch``: progressive delivery, as the trainer.

The operator's side only: the registry state is written here, the controller reads the
serve zone's metrics endpoints; replicas follow the state on their own polls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from bulkhead.operations.errors import BadInput, Refused
from bulkhead.platform.core import Platform
from bulkhead.platform.settings import Zone
from contracts.rollout import RolloutEvent, RolloutPolicy, RolloutState

if TYPE_CHECKING:
    from bulkhead.delivery.controller import RolloutReport
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
    """The serve zone's Prometheus endpoint(s): the head node's metrics export port."""
    settings = platform.settings
    port = settings.zone(Zone.SERVE).ports.metrics_export
    return [f"http://{settings.zone_host(Zone.SERVE)}:{port}/metrics"]


def start(platform: Platform, version: str, policy: RolloutPolicy, reason: str) -> RolloutState:
    from registry.writer import PromotionRefused

    try:
        return store(platform).start(version, policy, reason)
    except PromotionRefused as err:
        raise Refused(f"rollout refused: {err}") from err
    except ValueError as err:  # an invalid version number
        raise BadInput(str(err)) from err


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


def wait_for_end(platform: Platform, limit_s: float, every_s: float = 1.0) -> RolloutState | None:
    rollouts = store(platform)
    deadline = time.monotonic() + limit_s
    state = rollouts.current()
    while state is not None and state.active and time.monotonic() < deadline:
        time.sleep(every_s)
        state = rollouts.current()
    return state
