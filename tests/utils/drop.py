"""A real drop keeper on a real socket in a temporary folder, for tests that must not start
the platform: what the replicas send is received, validated and written as in production."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drop.keeper import Keeper, KeeperSettings


@contextmanager
def running_keeper(folder: Path) -> Iterator[tuple[Keeper, socket.socket]]:
    keeper = Keeper(
        KeeperSettings(
            socket=folder / "drop.sock",
            root=folder / "records",
            stats_file=folder / "stats.json",
            allowed_uids=(os.getuid(),),
        )
    )
    sock = keeper.bind()
    sock.settimeout(0.2)
    try:
        yield keeper, sock
    finally:
        sock.close()


def drain(keeper: Keeper, sock: socket.socket) -> None:
    """Receive every datagram waiting on the socket."""
    while True:
        try:
            keeper.receive(sock)
        except TimeoutError:
            return


def written(keeper: Keeper) -> list[dict[str, Any]]:
    """Every record the keeper wrote, in file order (its open files closed first)."""
    keeper.close()
    return [
        json.loads(line)
        for path in sorted(keeper.settings.root.rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
