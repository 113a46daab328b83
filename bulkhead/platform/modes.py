"""The platform's modes: TLS (`up --tls`), network namespaces (`up --isolate`) and how many
nodes the serve zone runs (`up --serve-nodes N`). Each is chosen while nothing runs and
kept in the saved state; the settings every service sees are the base settings with the
modes applied (``effective``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from bulkhead.platform import tls as tls_files
from bulkhead.platform.errors import PlatformError
from bulkhead.platform.isolation import IsolationError, IsolationLayout
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import is_alive
from bulkhead.platform.settings import PlatformSettings, Zone
from bulkhead.platform.state import PlatformState

Step = Callable[[str], AbstractContextManager[None]]


def effective(base: PlatformSettings, state: PlatformState) -> PlatformSettings:
    """The settings as the running platform uses them: with TLS under `up --tls`, each
    service at its namespace's address under `up --isolate`, the serve zone's nodes."""
    settings = base.with_tls() if state.tls else base
    if state.serve_nodes > 1:
        settings = settings.with_serve_nodes(state.serve_nodes)
    return state.isolation.apply(settings) if state.isolation is not None else settings


def _running(state: PlatformState) -> bool:
    registry = state.registry is not None and is_alive(state.registry.process)
    return registry or any(is_alive(zone.process) for zone in state.zones.values())


def switch_on(
    base: PlatformSettings,
    paths: StatePaths,
    state: PlatformState,
    *,
    isolate: bool,
    tls: bool,
    step: Step,
    save: Callable[[], None],
) -> None:
    """Switch TLS on and create (or re-create after a reboot) the namespaces of
    `up --isolate`; both only while nothing runs."""
    running = _running(state)
    if tls and not state.tls:
        if running:
            raise PlatformError("the platform runs without TLS; `bulkhead down` before `up --tls`")
        state.tls = True
    if state.tls:
        with step("TLS: platform CA and one certificate per service (secrets/tls)"):
            tls_files.ensure(effective(base, state), paths)
        save()
    layout = state.isolation
    if isolate and layout is None:
        if running:
            raise PlatformError(
                "the platform runs without isolation; `bulkhead down` before `up --isolate`"
            )
        layout = IsolationLayout.for_platform(
            str(paths.home), base.registry_port, base.isolation_subnet
        )
    if layout is None or (layout.exists() and running):
        return
    with step(
        f"network namespaces {', '.join(layout.namespaces.values())} (registry at "
        f"{layout.registry_address}; zones reach only the registry)"
    ):
        try:
            layout.create()
        except IsolationError as err:
            raise PlatformError(f"--isolate: {err}") from err
    state.isolation = layout
    save()


def choose_serve_nodes(
    base: PlatformSettings, state: PlatformState, nodes: int | None, *, isolate: bool
) -> bool:
    """How many nodes the serve zone runs: ``nodes`` (`--serve-nodes`), else what it runs
    with, else BULKHEAD_SERVE__NODES. Changing it needs the serve zone down. True when the
    state changed."""
    serve = state.zones.get(Zone.SERVE)
    running = serve is not None and is_alive(serve.process)
    wanted = nodes or (state.serve_nodes if running else base.serve.nodes)
    if wanted == state.serve_nodes:
        return False
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
    return True


def switch_off(state: PlatformState, step: Step) -> None:
    """After `down`: the namespaces removed, TLS and the nodes back to the settings'."""
    if state.isolation is not None:
        layout = state.isolation
        with step(f"remove network namespaces {', '.join(layout.namespaces.values())}"):
            layout.destroy()
        state.isolation = None
    state.tls = False
    state.serve_nodes = 1
