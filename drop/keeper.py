"""The drop keeper: the only writer of the payload and feedback drop.

It runs as an identity of its own (``bulkhead-drop``), listens on a Unix datagram socket only
the serve zone may send to (the socket file's group), and appends each valid record to
``<root>/<model>/<opened UTC>-<pid>-<n>.jsonl`` (files 0640; the root's set-gid group, the
ingest zone's, passes to every folder and file, so the ingest zone may read and only the
keeper may write). The serve zone can add records and
nothing else: it cannot read, change or delete what it sent, and a record it sends is checked
here (schema, sizes, the sender's uid from the kernel's ``SCM_CREDENTIALS``, and that its
request id was minted with the serve zone's request-id key for that model) before it lands.
The last check keeps out rows that no replica's feedback route verified (a bug or a bypass of
that route); it cannot stop a compromised serve zone, which holds the same key (docs/security.md
says what bounds that).

Feedback is acknowledged (contracts/drop.py, ``FEEDBACK_SOCKET_NAME``): a replica hands each
feedback record over a connection and answers its client 202 only once the keeper has written
and fsynced it; a drop that cannot keep it says so, and the client gets a 503 to retry. A
feedback record sent as a datagram (unacknowledged) is refused: labels come one way only.

Limits, each a share of its own (a full drop never fills the disk, and one model or one kind
of record cannot take another's room):
- payload samples (predictions): ``max_bytes`` in all and ``model_max_bytes`` per model;
  beyond either, the oldest sample files are evicted to make room (oldest first);
- labelled feedback: ``feedback_max_bytes`` in all, in files of its own that eviction never
  touches; beyond it feedback is refused (the client's 503), never dropped silently.
Files are closed after ``rotate_bytes`` or ``rotate_s`` and deleted after ``retention_s``.
Durability: feedback is fsynced before it is acknowledged; sample files every ``sync_s`` and
when closed. On SIGTERM the keeper first drains what its sockets hold. An ``OSError`` while
writing (disk full, too many files) is counted and answered, never fatal. Counters go to
``stats_file`` every few seconds.

    python -m drop.keeper --socket S --root R --stats S --request-id-key K [--allow-uid U ...]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import selectors
import signal
import socket
import struct
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.drop import (
    ACK_FAILED,
    ACK_FULL,
    ACK_KEPT,
    ACK_REFUSED,
    DROP_RECORD,
    FEEDBACK_FILE_PREFIX,
    MAX_DATAGRAM_BYTES,
    FeedbackRecord,
    PredictionRecord,
    feedback_socket_of,
    lines_of,
)
from contracts.request_ids import RequestIdError, RequestIds

log = logging.getLogger("bulkhead.drop")
# Set by the loop that runs the keeper (bulkhead/platform/drop_keeper.py): times it restarted it.
RESTARTS_ENV = "BULKHEAD_DROP_RESTARTS"
# The keeper writes its stats every STATS_EVERY_S: a file older than a few of those means the
# keeper is not running its loop (dead, frozen or crash-looping).
STATS_EVERY_S = 2.0
_UCRED = struct.Struct("iII")  # pid, uid, gid


class KeeperSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    socket: Path
    root: Path
    stats_file: Path
    allowed_uids: tuple[int, ...] = Field(description="Senders the keeper accepts records from.")
    request_id_key: Path | None = Field(
        description="The serve zone's request-id key (contracts/request_ids.py): only rows "
        "whose id it minted for their model land. None or unreadable: every row is refused."
    )
    max_bytes: int = Field(
        1024**3, ge=1024, description="Payload samples, all models: oldest evicted beyond."
    )
    model_max_bytes: int = Field(
        256 * 1024**2, ge=1024, description="Payload samples of one model: its own share."
    )
    feedback_max_bytes: int = Field(
        256 * 1024**2, ge=1024, description="Labelled feedback, all models: refused beyond."
    )
    rotate_bytes: int = Field(16 * 1024**2, ge=1024)
    rotate_s: float = Field(600, gt=0)
    retention_s: float = Field(30 * 86_400, gt=0)
    sync_s: float = Field(1.0, gt=0, description="How often sample files are fsynced.")
    ack_timeout_s: float = Field(0.5, gt=0, description="A feedback sender's time to send.")
    restarts: int = Field(0, ge=0, description="Times its loop started it again (for status).")


class KeeperStats(BaseModel):
    """The keeper's counters since it started, and the drop's size: its stats file (which
    `bulkhead status` reads)."""

    model_config = ConfigDict(extra="ignore")

    # Which keeper wrote this, and how many times its loop had to start it again: `status`
    # tells a running keeper from a crash-looping one by these and the file's age.
    pid: int = 0
    restarts: int = 0
    records: int = 0
    datagrams: int = 0
    invalid: int = 0
    refused_sender: int = 0
    # Rows whose request id the serve zone's key did not mint for their model.
    unminted: int = 0
    dropped_full: int = 0
    truncated: int = 0
    by_model: dict[str, int] = Field(default_factory=dict)
    bytes: int = 0
    time: float = 0.0
    feedback_kept: int = 0
    feedback_refused_full: int = 0
    evicted_files: int = 0
    evicted_bytes: int = 0
    write_errors: int = 0
    feedback_bytes: int = 0
    # The caps the keeper runs with, so that `status` and the chaos harness read them
    # rather than assume them.
    feedback_max_bytes: int = 0
    max_bytes: int = 0


class _OpenFile:
    def __init__(self, path: Path, opened_at: float) -> None:
        self.path = path
        self.opened_at = opened_at
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self.size = os.fstat(self.fd).st_size


Kind = str  # "prediction" | "feedback"


def _kind_of(path: Path) -> Kind:
    return "feedback" if path.name.startswith(FEEDBACK_FILE_PREFIX) else "prediction"


class Keeper:
    def __init__(self, settings: KeeperSettings) -> None:
        self.settings = settings
        self.counts = KeeperStats(pid=os.getpid(), restarts=settings.restarts)
        self._files: dict[tuple[str, Kind], _OpenFile] = {}
        self._sequence = 0
        self._unsynced: set[tuple[str, Kind]] = set()
        # Closed sample files per model, oldest first: what eviction takes.
        self._closed: dict[str, deque[tuple[Path, int]]] = {}
        self._sizes: dict[tuple[str, Kind], int] = {}
        key = settings.request_id_key
        self._ids = RequestIds.from_file(key) if key is not None else RequestIds(None)
        if not self._ids.shared:
            log.error("drop keeper: no readable request-id key (%s): every row is refused", key)
        self._measure()

    def _measure(self) -> None:
        root = self.settings.root
        if not root.is_dir():
            return
        found = []
        for path in root.glob("*/*.jsonl"):
            stat = path.stat()
            found.append((stat.st_mtime, path, stat.st_size))
        for _, path, size in sorted(found):
            model, kind = path.parent.name, _kind_of(path)
            self._sizes[(model, kind)] = self._sizes.get((model, kind), 0) + size
            if kind == "prediction":
                self._closed.setdefault(model, deque()).append((path, size))

    def _total(self, kind: Kind) -> int:
        return sum(size for (_, k), size in self._sizes.items() if k == kind)

    # ------------------------------------------------------------ records

    def accept(self, datagram: bytes, uid: int | None) -> int:
        """Validate and append one datagram's records; returns how many landed."""
        self.counts.datagrams += 1
        if uid is None or uid not in self.settings.allowed_uids:
            self.counts.refused_sender += 1
            return 0
        batches: dict[tuple[str, Kind], list[bytes]] = {}
        for line in lines_of(datagram):
            try:
                record = DROP_RECORD.validate_json(line)
            except ValidationError:
                self.counts.invalid += 1
                continue
            if isinstance(record, FeedbackRecord):  # labels come acknowledged, one at a time
                self.counts.invalid += 1
                continue
            if not self._minted(record):
                continue
            # Written as validated (canonical JSON), never as received.
            key = (record.model, record.kind)
            batches.setdefault(key, []).append(record.model_dump_json().encode())
        landed = 0
        for (model, kind), lines in batches.items():
            if self._append(model, kind, lines, sync=False) == ACK_KEPT:
                landed += len(lines)
        return landed

    def keep_feedback(self, message: bytes, uid: int | None) -> bytes:
        """One acknowledged feedback record: written and fsynced before ``ACK_KEPT``."""
        if uid is None or uid not in self.settings.allowed_uids:
            self.counts.refused_sender += 1
            return ACK_REFUSED
        try:
            record = DROP_RECORD.validate_json(message.strip())
        except ValidationError:
            self.counts.invalid += 1
            return ACK_REFUSED
        if not isinstance(record, FeedbackRecord):
            self.counts.invalid += 1
            return ACK_REFUSED
        if not self._minted(record):
            return ACK_REFUSED
        return self._append(record.model, "feedback", [record.model_dump_json().encode()], True)

    def _minted(self, record: PredictionRecord | FeedbackRecord) -> bool:
        """The row's id was issued by the serve zone for the row's model (its age is the
        feedback route's rule: a sample is logged as it is issued, a label days later)."""
        try:
            self._ids.verify(record.request_id, record.model, max_age_s=math.inf)
        except RequestIdError:
            self.counts.unminted += 1
            return False
        return True

    def _append(self, model: str, kind: Kind, lines: list[bytes], sync: bool) -> bytes:
        data = b"\n".join(lines) + b"\n"
        if kind == "feedback":
            if self._total("feedback") + len(data) > self.settings.feedback_max_bytes:
                self.counts.feedback_refused_full += len(lines)
                return ACK_FULL
        elif not self._make_room(model, len(data)):
            self.counts.dropped_full += len(lines)
            return ACK_FULL
        handle: _OpenFile | None = None
        try:
            handle = self._file(model, kind, len(data))
            view = memoryview(data)
            while view:  # a nearly full disk may take part of a write without an error
                written = os.write(handle.fd, view)
                if written <= 0:
                    raise OSError("no byte written")
                view = view[written:]
            if sync:
                os.fsync(handle.fd)
            else:
                self._unsynced.add((model, kind))
        except OSError as err:
            # Disk full, too many open files: counted and answered; the keeper lives on.
            # What part of the records reached the file is cut off again: no half line.
            self.counts.write_errors += len(lines)
            log.error("drop keeper: cannot write %s records of %s: %s", kind, model, err)
            if handle is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(handle.fd, handle.size)
            self._close(model, kind)
            return ACK_FAILED
        handle.size += len(data)
        self._sizes[(model, kind)] = self._sizes.get((model, kind), 0) + len(data)
        self.counts.by_model[model] = self.counts.by_model.get(model, 0) + len(lines)
        self.counts.records += len(lines)
        if kind == "feedback":
            self.counts.feedback_kept += len(lines)
        return ACK_KEPT

    def _make_room(self, model: str, incoming: int) -> bool:
        """Evict the oldest sample files until ``incoming`` bytes fit the model's share and
        the whole drop's; False when even that cannot make room."""
        settings = self.settings
        if incoming > min(settings.model_max_bytes, settings.max_bytes):
            return False  # no eviction could make room: evict nothing for it
        while self._sizes.get((model, "prediction"), 0) + incoming > settings.model_max_bytes:
            if not self._evict_oldest(model):
                return False
        while self._total("prediction") + incoming > settings.max_bytes:
            # The oldest closed sample file of any model (names start with their UTC stamp);
            # when none is closed, the oldest open one (an idle model's never rotates).
            heads = [(queue[0][0].name, name) for name, queue in self._closed.items() if queue]
            if not heads:
                heads = [(h.path.name, m) for (m, k), h in self._files.items() if k == "prediction"]
            if not heads or not self._evict_oldest(min(heads)[1]):
                return False
        return True

    def _evict_oldest(self, model: str) -> bool:
        queue = self._closed.get(model)
        if not queue:
            if (model, "prediction") not in self._files:
                return False
            self._close(model, "prediction")  # the open file is the oldest left
            queue = self._closed.get(model)
            if not queue:
                return False
        path, size = queue[0]
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:  # kept on disk and in the books: tried again next time
            log.error("drop keeper: cannot evict %s: %s", path, err)
            return False
        queue.popleft()
        self._sizes[(model, "prediction")] = max(
            0, self._sizes.get((model, "prediction"), 0) - size
        )
        self.counts.evicted_files += 1
        self.counts.evicted_bytes += size
        return True

    def _file(self, model: str, kind: Kind, incoming: int) -> _OpenFile:
        now = time.time()
        handle = self._files.get((model, kind))
        if handle is not None and (
            handle.size + incoming > self.settings.rotate_bytes
            or now - handle.opened_at > self.settings.rotate_s
        ):
            self._close(model, kind)
            handle = None
        if handle is None:
            folder = self.settings.root / model
            # Set-gid and group come from the root folder (a keeper outside the ingest group
            # could not set them itself).
            folder.mkdir(parents=True, mode=0o750, exist_ok=True)
            self._sequence += 1
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
            prefix = FEEDBACK_FILE_PREFIX if kind == "feedback" else ""
            name = f"{prefix}{stamp}-{os.getpid()}-{self._sequence}.jsonl"
            handle = _OpenFile(folder / name, now)
            self._files[(model, kind)] = handle
        return handle

    def _close(self, model: str, kind: Kind) -> None:
        handle = self._files.pop((model, kind), None)
        self._unsynced.discard((model, kind))
        if handle is None:
            return
        with contextlib.suppress(OSError):
            os.fsync(handle.fd)
        os.close(handle.fd)
        if kind == "prediction":
            self._closed.setdefault(model, deque()).append((handle.path, handle.size))

    def sync(self) -> None:
        """fsync the sample files written since the last sync (feedback is synced at once)."""
        for key in list(self._unsynced):
            handle = self._files.get(key)
            if handle is not None:
                with contextlib.suppress(OSError):
                    os.fsync(handle.fd)
        self._unsynced.clear()

    def close(self) -> None:
        for model, kind in list(self._files):
            self._close(model, kind)

    def prune(self) -> int:
        """Delete closed files past their retention; returns how many."""
        cutoff = time.time() - self.settings.retention_s
        open_paths = {h.path for h in self._files.values()}
        removed = 0
        for path in self.settings.root.glob("*/*.jsonl"):
            stat = path.stat()
            if path not in open_paths and stat.st_mtime < cutoff:
                path.unlink()
                key = (path.parent.name, _kind_of(path))
                self._sizes[key] = max(0, self._sizes.get(key, 0) - stat.st_size)
                queue = self._closed.get(path.parent.name)
                if queue is not None:
                    self._closed[path.parent.name] = deque(e for e in queue if e[0] != path)
                removed += 1
        return removed

    def write_stats(self) -> None:
        stats = self.counts.model_copy(
            update={
                "bytes": self._total("prediction") + self._total("feedback"),
                "feedback_bytes": self._total("feedback"),
                "feedback_max_bytes": self.settings.feedback_max_bytes,
                "max_bytes": self.settings.max_bytes,
                "time": time.time(),
            }
        )
        staging = self.settings.stats_file.with_suffix(".tmp")
        staging.write_text(stats.model_dump_json())
        os.replace(staging, self.settings.stats_file)

    # ------------------------------------------------------------ the sockets

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

    def bind_feedback(self) -> socket.socket:
        """The acknowledged feedback socket (same folder, same senders)."""
        path = Path(feedback_socket_of(str(self.settings.socket)))
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.bind(str(path))
        # The keeper's own socket in its own inbox (the serve group may pass, never write
        # there), chmodded by the keeper's identity, not root: no link to plant.
        os.chmod(path, 0o622)
        sock.listen(64)
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

    def answer_feedback(self, listener: socket.socket) -> None:
        """One connection, one record, one answer; a sender that does not send within
        ``ack_timeout_s`` is dropped (it cannot hold the keeper)."""
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(self.settings.ack_timeout_s)
            try:
                _, uid, _ = _UCRED.unpack(
                    conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
                )
                message = conn.recv(MAX_DATAGRAM_BYTES + 1)
                if not message or len(message) > MAX_DATAGRAM_BYTES:
                    conn.send(ACK_REFUSED)
                    return
                conn.send(self.keep_feedback(message, uid))
            except OSError:
                return  # the sender went away or was too slow: it answers its client 503

    def drain(self, sock: socket.socket, listener: socket.socket) -> None:
        """What the sockets still hold when the keeper is told to stop: taken, not lost."""
        sock.setblocking(False)
        listener.setblocking(False)
        while True:
            try:
                self.receive(sock)
            except (BlockingIOError, InterruptedError):
                break
        while True:
            try:
                self.answer_feedback(listener)
            except (BlockingIOError, InterruptedError):
                break

    def run(self, sock: socket.socket, listener: socket.socket, stop: list[bool]) -> None:
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ, self.receive)
        selector.register(listener, selectors.EVENT_READ, self.answer_feedback)
        last_stats = last_prune = last_sync = 0.0
        while not stop:
            for key, _ in selector.select(timeout=min(1.0, self.settings.sync_s)):
                try:
                    key.data(key.fileobj)
                except OSError as err:  # one bad receive never ends the keeper
                    log.warning("drop keeper: %s", err)
            now = time.monotonic()
            if now - last_sync >= self.settings.sync_s:
                self.sync()
                last_sync = now
            if now - last_stats >= STATS_EVERY_S:
                with contextlib.suppress(OSError):
                    self.write_stats()
                last_stats = now
            if now - last_prune >= 600:
                with contextlib.suppress(OSError):
                    self.prune()
                last_prune = now
        selector.close()
        self.drain(sock, listener)
        self.close()
        self.write_stats()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--allow-uid", type=int, action="append", default=[])
    parser.add_argument("--request-id-key", type=Path, required=True)
    parser.add_argument("--max-bytes", type=int, default=1024**3)
    parser.add_argument("--model-max-bytes", type=int, default=256 * 1024**2)
    parser.add_argument("--feedback-max-bytes", type=int, default=256 * 1024**2)
    parser.add_argument("--rotate-s", type=float, default=600)
    parser.add_argument("--retention-s", type=float, default=30 * 86_400)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s drop keeper: %(message)s")
    settings = KeeperSettings(
        socket=args.socket,
        root=args.root,
        stats_file=args.stats,
        allowed_uids=tuple(args.allow_uid or [os.getuid()]),
        request_id_key=args.request_id_key,
        restarts=int(os.environ.get(RESTARTS_ENV, "0") or 0),
        max_bytes=args.max_bytes,
        model_max_bytes=args.model_max_bytes,
        feedback_max_bytes=args.feedback_max_bytes,
        rotate_s=args.rotate_s,
        retention_s=args.retention_s,
    )
    os.umask(0o027)
    keeper = Keeper(settings)
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    sock = keeper.bind()
    listener = keeper.bind_feedback()
    log.info(
        "listening on %s, writing %s (senders: uids %s)",
        settings.socket,
        settings.root,
        settings.allowed_uids,
    )
    keeper.run(sock, listener, stop)
    sock.close()
    listener.close()
    settings.socket.unlink(missing_ok=True)
    Path(feedback_socket_of(str(settings.socket))).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
