"""Start the drop keeper (drop/keeper.py) as its own identity, and read its counters."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil

from bulkhead.platform.identity import SERVICE_UMASK, Identities, Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ProcessRecord, spawn, wait_until
from bulkhead.platform.service import Context, Service
from bulkhead.platform.services import clean_env, venv_bin
from bulkhead.platform.state import DROP_KEEPER
from bulkhead.platform.status import ServiceStatus
from drop.keeper import RESTARTS_ENV, STATS_EVERY_S, KeeperStats

STARTUP_TIMEOUT_S = 30.0
STALE_AFTER_S = 3 * STATS_EVERY_S + 1


def command(paths: StatePaths, identities: Identities | None) -> list[str]:
    sender = identities.of(Role.SERVE).uid if identities is not None else os.getuid()
    drop = identities.of(Role.DROP).drop_prefix() if identities is not None else []
    return [
        *drop,
        # A keeper that dies (killed, or a bug) is started again within a second, as its own
        # identity: while it is gone feedback is answered 503 and samples are counted as
        # unreachable, never lost silently. `down` stops the loop (the session's leader)
        # first, then the keeper, which drains its sockets before it exits.
        "/bin/sh",
        "-c",
        f'n=0; while :; do {RESTARTS_ENV}=$n "$@"; '
        'echo "drop keeper exited ($?); starting it again in 1 s" >&2; n=$((n+1)); sleep 1; done',
        "drop-keeper",
        str(venv_bin() / "python"),
        "-m",
        "drop.keeper",
        "--socket",
        str(paths.drop_socket),
        "--root",
        str(paths.drop_records),
        "--stats",
        str(paths.drop_stats),
        "--allow-uid",
        str(sender),
        "--request-id-key",
        str(paths.drop_request_id_key),
    ]


def start(paths: StatePaths, identities: Identities | None) -> ProcessRecord:
    """No network at all: it runs in the host's namespace whatever ``--isolate`` builds (a
    Unix socket is reached by its path, from any namespace)."""
    paths.drop_socket.unlink(missing_ok=True)
    record = spawn(
        command(paths, identities),
        clean_env(home=paths.service_home(Role.DROP)),
        paths.log_file("drop-keeper"),
        cwd=paths.service_home(Role.DROP),
        umask=SERVICE_UMASK,
    )
    wait_until(paths.drop_socket.exists, record, "the drop keeper", STARTUP_TIMEOUT_S, 0.1)
    return record


def stats(paths: StatePaths) -> KeeperStats | None:
    try:
        return KeeperStats.model_validate(json.loads(Path(paths.drop_stats).read_text()))
    except (OSError, ValueError):
        return None


def keeper_state(loop_alive: bool, counted: KeeperStats | None, now: float) -> str:
    """``running``: the keeper itself writes its stats on time; ``restarting``: its loop is
    alive but the keeper is not (dead between restarts, crash-looping, or frozen); ``stopped``:
    no loop. The loop alone being alive says nothing of the keeper (found by review)."""
    if not loop_alive:
        return "stopped"
    fresh = counted is not None and now - counted.time <= STALE_AFTER_S
    return (
        "running"
        if fresh and counted is not None and psutil.pid_exists(counted.pid)
        else ("restarting")
    )


class DropKeeperService(Service):
    """The one writer of the serve -> ingest drop, as its own identity (drop/keeper.py).
    After the zones in `down`'s order: the replicas' last records land first."""

    name = "drop keeper"
    key = DROP_KEEPER

    def title(self, ctx: Context) -> str:
        who = "bulkhead-drop" if ctx.state.identities is not None else "the operator"
        return f"payload and feedback drop keeper ({who}) at {ctx.paths.drop_records}"

    def start(self, ctx: Context) -> None:
        self.keep(ctx, start(ctx.paths, ctx.state.identities))

    def status(self, ctx: Context) -> ServiceStatus:
        """The keeper's own state, not only its restart loop's (`up` still counts a live loop
        as running: the loop is what restarts the keeper)."""
        found = super().status(ctx)
        if found.state != "running":
            return found
        state = keeper_state(True, stats(ctx.paths), time.time())
        return found.model_copy(update={"state": state})
