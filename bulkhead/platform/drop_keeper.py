"""Start the drop keeper (drop/keeper.py) as its own identity, and read its counters."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bulkhead.platform.identity import SERVICE_UMASK, Identities, Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ProcessRecord, spawn, wait_until
from bulkhead.platform.service import Context, Service
from bulkhead.platform.services import clean_env, venv_bin
from bulkhead.platform.state import DROP_KEEPER
from drop.keeper import KeeperStats

STARTUP_TIMEOUT_S = 30.0


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
        'while :; do "$@"; echo "drop keeper exited ($?); starting it again in 1 s" >&2; '
        "sleep 1; done",
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
