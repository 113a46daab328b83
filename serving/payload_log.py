"""Payload logging and feedback, sent one way to the drop keeper (contracts/drop.py).

A request only appends a few small dicts to a bounded buffer; a background task flushes the
buffer every ``flush_interval_s`` as datagrams on a non-blocking Unix socket. Nothing here can
slow or fail a request: a full buffer, a keeper too slow to empty its socket (``EAGAIN``) or
no keeper at all drops records, and every dropped record is counted by reason. The socket is
write-only from here: the serve zone cannot read the drop back.

Feedback is the exception: a client is told whether its feedback was kept, so it is handed to
the keeper over a connection and answered 202 only once the keeper has it on disk; anything
else is the client's 503 (try again), never a silent drop.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.drop import (
    ACK_FULL,
    ACK_KEPT,
    DROP_SOCKET_ENV,
    MAX_DATAGRAM_BYTES,
    FeedbackRecord,
    encode,
    feedback_socket_of,
)
from serving.config import PayloadLogConfig
from serving.metrics import NoMetrics, ReplicaMetrics
from serving.predictor import Prediction

log = logging.getLogger("ray.serve")

SENT = "sent"
BUFFER_FULL = "buffer_full"
DROP_BUSY = "drop_busy"
DROP_UNREACHABLE = "drop_unreachable"
TOO_LARGE = "too_large"


class DropUnavailable(RuntimeError):
    """The drop cannot take a record now (no keeper, or its socket is full)."""


class DropFull(DropUnavailable):
    """The keeper answered that the drop's share for this record is used up."""


class FeedbackSender:
    """Hands one feedback record to the keeper and waits for its word (contracts/drop.py):
    ``keep`` returns only once the record is on disk, so a 202 means kept. Blocking (at most
    ``timeout_s``): callers run it off the event loop."""

    def __init__(self, drop_socket: str | None, timeout_s: float = 2.0) -> None:
        self.path = feedback_socket_of(drop_socket) if drop_socket else None
        self.timeout_s = timeout_s

    def keep(self, line: bytes) -> None:
        if self.path is None:
            raise DropUnavailable(f"{DROP_SOCKET_ENV} is not set")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect(self.path)
                sock.send(line)
                answer = sock.recv(64)
        except OSError as err:
            raise DropUnavailable(f"the drop keeper did not answer: {err}") from err
        if answer == ACK_KEPT:
            return
        if answer == ACK_FULL:
            raise DropFull("the drop's feedback share is full")
        raise DropUnavailable(
            f"the drop keeper did not keep it ({answer.decode(errors='replace') or 'no answer'})"
        )


@dataclass
class PayloadCounts:
    """Records by outcome since the replica started (for /v1/status)."""

    by_outcome: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str, count: int) -> None:
        self.by_outcome[outcome] = self.by_outcome.get(outcome, 0) + count


class DropSender:
    """A non-blocking datagram socket to the keeper, reconnected when the keeper returns."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self.last_error: str | None = None if path else f"{DROP_SOCKET_ENV} is not set"

    def _socket(self) -> socket.socket:
        if self.path is None:
            raise DropUnavailable(self.last_error or "no drop socket")
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.connect(self.path)
            except OSError as err:
                sock.close()
                raise DropUnavailable(f"drop keeper at {self.path}: {err.strerror}") from err
            self._sock = sock
        return self._sock

    def send(self, datagram: bytes) -> None:
        """One datagram, now or never: ``DropUnavailable`` with ``busy`` in the message when
        the keeper's queue is full."""
        try:
            self._socket().send(datagram)
            self.last_error = None
        except BlockingIOError as err:
            raise DropUnavailable("busy: the drop keeper's queue is full") from err
        except OSError as err:
            self.close()
            if err.errno in (errno.EMSGSIZE,):
                raise
            self.last_error = f"drop keeper at {self.path}: {err.strerror}"
            raise DropUnavailable(self.last_error) from err

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PayloadLog:
    def __init__(
        self,
        sender: DropSender,
        metrics: ReplicaMetrics | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.sender = sender
        self.config = PayloadLogConfig()
        self.counts = PayloadCounts()
        self._metrics = metrics or NoMetrics()
        self._clock = clock
        self._rng = rng
        self._buffer: deque[tuple[str, str]] = deque()  # (model, JSON line)
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    def from_environment(cls, metrics: ReplicaMetrics) -> PayloadLog:
        return cls(DropSender(os.environ.get(DROP_SOCKET_ENV) or None), metrics)

    def configure(self, config: PayloadLogConfig) -> None:
        self.config = config

    def _count(self, model: str, outcome: str, count: int) -> None:
        if count <= 0:
            return
        self.counts.add(outcome, count)
        self._metrics.payload_records(model, outcome, count)

    # ------------------------------------------------------------ on the request path

    def predictions(
        self,
        model: str,
        version: str,
        request_id: str,
        texts: list[str],
        predictions: list[Prediction],
        latency_ms: float,
    ) -> None:
        """Sample and buffer one answered request's records: no I/O, no wait."""
        config = self.config
        if not config.enabled or config.sample_rate <= 0:
            return
        if config.sample_rate < 1 and self._rng() >= config.sample_rate:
            return
        room = config.buffer_records - len(self._buffer)
        if room < len(texts):
            self._count(model, BUFFER_FULL, len(texts) - max(room, 0))
            texts = texts[: max(room, 0)]
        now = self._clock()
        keep_text = config.inputs == "text"
        for index, (text, prediction) in enumerate(zip(texts, predictions, strict=False)):
            record: dict[str, Any] = {
                "kind": "prediction",
                "request_id": request_id,
                "index": index,
                "time": now,
                "model": model,
                "version": version,
                "label": prediction.label,
                "score": prediction.score,
                "scores": prediction.scores,
                "latency_ms": round(latency_ms, 3),
                "chars": len(text),
                "text_sha256": text_digest(text),
                "tokens": prediction.tokens,
                "unknown_tokens": prediction.unknown_tokens,
                "text": text if keep_text else None,
            }
            self._buffer.append((model, json.dumps(record, separators=(",", ":"))))

    # ------------------------------------------------------------ off it

    def start(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval_s)
            try:
                self.flush()
            except Exception:  # the flusher must survive anything; records are counted
                log.exception("payload log flush crashed")

    def flush(self) -> int:
        """Send what the buffer holds; returns the records sent."""
        if not self._buffer:
            return 0
        pending: dict[str, list[str]] = {}
        while self._buffer:
            model, line = self._buffer.popleft()
            pending.setdefault(model, []).append(line)
        sent = 0
        for model, lines in pending.items():
            datagrams = encode(lines)
            packed = sum(d.count(b"\n") for d in datagrams)
            self._count(model, TOO_LARGE, len(lines) - packed)
            for number, datagram in enumerate(datagrams):
                records = datagram.count(b"\n")
                try:
                    self.sender.send(datagram)
                except DropUnavailable as err:
                    lost = sum(d.count(b"\n") for d in datagrams[number:])
                    self._count(model, DROP_BUSY if "busy" in str(err) else DROP_UNREACHABLE, lost)
                    break
                sent += records
                self._count(model, SENT, records)
        return sent

    def feedback(self, record: FeedbackRecord) -> None:
        """Hand one feedback record to the keeper and return once it is kept;
        ``DropUnavailable`` (``DropFull``) if it was not. Blocking: run off the event loop.
        (Built as the contract's model: it is rare, unlike predictions, which are plain
        dicts on the request path and validated by the keeper.)"""
        line = record.model_dump_json().encode() + b"\n"
        if len(line) > MAX_DATAGRAM_BYTES:
            raise DropUnavailable("feedback record too large")
        # Beside the sender's datagram socket, wherever that is now.
        FeedbackSender(self.sender.path).keep(line)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        try:
            self.flush()
        except Exception:
            log.exception("payload log: last flush failed")
        self.sender.close()
