"""The drop keeper: the only writer of the payload and feedback drop.

It runs as an identity of its own (``bulkhead-drop``), listens on a Unix datagram socket only
the serve zone may send to (the socket file's group), and appends each valid record to
``<root>/<model>/<opened UTC>-<pid>-<n>.jsonl`` (files 0640; the root's set-gid group, the
ingest zone's, passes to every folder and file, so the ingest zone may read and only the
keeper may write). The serve zone can add records and
nothing else: it cannot read, change or delete what it sent, and a record it sends is checked
here (schema, sizes, the sender's uid from the kernel's ``SCM_CREDENTIALS``) before it lands.

Limits: ``max_bytes`` for the whole drop (records beyond it are refused and counted: a full
drop never fills the disk); files are closed after ``rotate_bytes`` or ``rotate_s`` and
deleted after ``retention_s``. Counters go to ``stats_file`` every few seconds.

    python -m drop.keeper --socket S --root R --stats S [--allow-uid U ...]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.drop import DROP_RECORD, MAX_DATAGRAM_BYTES, lines_of

log = logging.getLogger("bulkhead.drop")
_UCRED = struct.Struct("iII")  # pid, uid, gid


class KeeperSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    socket: Path
    root: Path
    stats_file: Path
    allowed_uids: tuple[int, ...] = Field(description="Senders the keeper accepts records from.")
    max_bytes: int = Field(1024**3, ge=1024, description="The whole drop's size cap.")
    rotate_bytes: int = Field(16 * 1024**2, ge=1024)
    rotate_s: float = Field(600, gt=0)
    retention_s: float = Field(30 * 86_400, gt=0)


class KeeperStats(BaseModel):
    """The keeper's counters since it started, and the drop's size: its stats file (which
    `bulkhead status` reads)."""

    model_config = ConfigDict(extra="ignore")

    records: int = 0
    datagrams: int = 0
    invalid: int = 0
    refused_sender: int = 0
    dropped_full: int = 0
    truncated: int = 0
    by_model: dict[str, int] = Field(default_factory=dict)
    bytes: int = 0
    time: float = 0.0


class _OpenFile:
    def __init__(self, path: Path, opened_at: float) -> None:
        self.path = path
        self.opened_at = opened_at
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self.size = os.fstat(self.fd).st_size


class Keeper:
    def __init__(self, settings: KeeperSettings) -> None:
        self.settings = settings
        self.counts = KeeperStats()
        self._files: dict[str, _OpenFile] = {}
        self._sequence = 0
        self._size = self._measure()

    def _measure(self) -> int:
        root = self.settings.root
        return sum(p.stat().st_size for p in root.rglob("*.jsonl")) if root.is_dir() else 0

    # ------------------------------------------------------------ records

    def accept(self, datagram: bytes, uid: int | None) -> int:
        """Validate and append one datagram's records; returns how many landed."""
        self.counts.datagrams += 1
        if uid is None or uid not in self.settings.allowed_uids:
            self.counts.refused_sender += 1
            return 0
        by_model: dict[str, list[bytes]] = {}
        for line in lines_of(datagram):
            try:
                record = DROP_RECORD.validate_json(line)
            except ValidationError:
                self.counts.invalid += 1
                continue
            # Written as validated (canonical JSON), never as received.
            by_model.setdefault(record.model, []).append(record.model_dump_json().encode())
        landed = 0
        for model, lines in by_model.items():
            data = b"\n".join(lines) + b"\n"
            if self._size + len(data) > self.settings.max_bytes:
                self.counts.dropped_full += len(lines)
                continue
            handle = self._file(model, len(data))
            os.write(handle.fd, data)
            handle.size += len(data)
            self._size += len(data)
            landed += len(lines)
            self.counts.by_model[model] = self.counts.by_model.get(model, 0) + len(lines)
        self.counts.records += landed
        return landed

    def _file(self, model: str, incoming: int) -> _OpenFile:
        now = time.time()
        handle = self._files.get(model)
        if handle is not None and (
            handle.size + incoming > self.settings.rotate_bytes
            or now - handle.opened_at > self.settings.rotate_s
        ):
            self._close(model)
            handle = None
        if handle is None:
            folder = self.settings.root / model
            # Set-gid and group come from the root folder (a keeper outside the ingest group
            # could not set them itself).
            folder.mkdir(parents=True, mode=0o750, exist_ok=True)
            self._sequence += 1
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
            handle = _OpenFile(folder / f"{stamp}-{os.getpid()}-{self._sequence}.jsonl", now)
            self._files[model] = handle
        return handle

    def _close(self, model: str) -> None:
        handle = self._files.pop(model, None)
        if handle is not None:
            os.fsync(handle.fd)
            os.close(handle.fd)

    def close(self) -> None:
        for model in list(self._files):
            self._close(model)

    def prune(self) -> int:
        """Delete closed files past their retention; returns how many."""
        cutoff = time.time() - self.settings.retention_s
        open_paths = {h.path for h in self._files.values()}
        removed = 0
        for path in self.settings.root.rglob("*.jsonl"):
            stat = path.stat()
            if path not in open_paths and stat.st_mtime < cutoff:
                path.unlink()
                self._size -= stat.st_size
                removed += 1
        return removed

    def write_stats(self) -> None:
        stats = self.counts.model_copy(update={"bytes": self._size, "time": time.time()})
        staging = self.settings.stats_file.with_suffix(".tmp")
        staging.write_text(stats.model_dump_json())
        os.replace(staging, self.settings.stats_file)

    # ------------------------------------------------------------ the socket

    def bind(self) -> socket.socket:
        path = self.settings.socket
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024**2)
        sock.bind(str(path))
        # Anyone who may pass the socket's folder may send: the platform gives that folder to
        # the serve zone's group alone (bulkhead/platform/handover.py: prepare_drop), and each
        # datagram's sender uid is checked again in ``accept``.
        os.chmod(path, 0o622)
        return sock

    def receive(self, sock: socket.socket) -> None:
        data, ancillary, flags, _ = sock.recvmsg(
            MAX_DATAGRAM_BYTES + 1, socket.CMSG_SPACE(_UCRED.size)
        )
        if flags & socket.MSG_TRUNC or len(data) > MAX_DATAGRAM_BYTES:
            self.counts.truncated += 1
            return
        uid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                _, uid, _ = _UCRED.unpack(payload[: _UCRED.size])
        self.accept(data, uid)

    def run(self, sock: socket.socket, stop: list[bool]) -> None:
        sock.settimeout(1.0)
        last_stats = last_prune = 0.0
        while not stop:
            with contextlib.suppress(TimeoutError):
                self.receive(sock)
            now = time.monotonic()
            if now - last_stats >= 2:
                self.write_stats()
                last_stats = now
            if now - last_prune >= 600:
                self.prune()
                last_prune = now
        self.close()
        self.write_stats()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--allow-uid", type=int, action="append", default=[])
    parser.add_argument("--max-bytes", type=int, default=1024**3)
    parser.add_argument("--rotate-s", type=float, default=600)
    parser.add_argument("--retention-s", type=float, default=30 * 86_400)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s drop keeper: %(message)s")
    settings = KeeperSettings(
        socket=args.socket,
        root=args.root,
        stats_file=args.stats,
        allowed_uids=tuple(args.allow_uid or [os.getuid()]),
        max_bytes=args.max_bytes,
        rotate_s=args.rotate_s,
        retention_s=args.retention_s,
    )
    os.umask(0o027)
    keeper = Keeper(settings)
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    sock = keeper.bind()
    log.info(
        "listening on %s, writing %s (senders: uids %s)",
        settings.socket,
        settings.root,
        settings.allowed_uids,
    )
    keeper.run(sock, stop)
    sock.close()
    settings.socket.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
