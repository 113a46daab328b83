"""The payload and feedback drop: what the serve zone sends back to the ingest zone, one way.

The serve zone never writes a file the ingest zone reads, and never reads one back: replicas
send records as datagrams to the drop keeper (``drop/keeper.py``), a process of its own
identity that validates each record and appends it to the drop folder, which the ingest zone
may read and nobody but the keeper may write. Everything both sides agree on is here: the
records, their size limits and the wire format.

Wire format: one datagram = one or more records as UTF-8 JSON lines, at most
``MAX_DATAGRAM_BYTES``. A datagram is the unit of loss: a full socket buffer drops it whole,
and the sender counts it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

# A datagram's size limit: under the default socket buffer of every Linux since 2.6, so a
# send never needs a larger SO_SNDBUF (which an unprivileged process cannot always get).
MAX_DATAGRAM_BYTES = 60_000
MAX_TEXT_CHARS = 10_000  # above any served model's text limit; the keeper refuses longer
MAX_NOTE_CHARS = 500
MAX_LABEL_CHARS = 100
MAX_SCORES = 64
# Request ids the serve zone issues (contracts/request_ids.py): printable, bounded.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Env: the keeper's socket, as a replica finds it (absent: payload logging counts every
# record as dropped and says why in /v1/status).
DROP_SOCKET_ENV = "BULKHEAD_DROP_SOCKET"
# Env: the key request ids are signed with (a file), shared by every replica of the zone so
# that feedback may reach any replica.
REQUEST_ID_KEY_FILE_ENV = "BULKHEAD_REQUEST_ID_KEY_FILE"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(description="The id the serve zone issued for the request.")
    index: int = Field(0, ge=0, lt=1024, description="Which text of the request.")
    time: float = Field(ge=0, description="Unix time the replica made the record.")
    model: str = Field(description="Registered model name.")

    @field_validator("request_id")
    @classmethod
    def _printable_id(cls, value: str) -> str:
        if not REQUEST_ID_PATTERN.match(value):
            raise ValueError("request_id: 8-128 characters of [A-Za-z0-9._-]")
        return value

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not MODEL_NAME_PATTERN.match(value):
            raise ValueError("model: a registered model name")
        return value


class PredictionRecord(_Record):
    """One text of one sampled request, as answered."""

    kind: Literal["prediction"] = "prediction"
    version: str = Field(pattern=r"^[0-9]{1,12}$")
    label: str = Field(max_length=MAX_LABEL_CHARS)
    score: float = Field(ge=0, le=1)
    scores: dict[str, float] = Field(max_length=MAX_SCORES)
    latency_ms: float = Field(ge=0, description="The whole request's model time.")
    chars: int = Field(ge=0, description="Length of the text in characters.")
    text_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tokens: int | None = Field(
        None, ge=0, description="Tokens the model saw (after truncation, special ones included)."
    )
    unknown_tokens: int | None = Field(
        None, ge=0, description="Of those, the tokenizer's unknown token: words it cannot spell."
    )
    text: str | None = Field(
        None,
        max_length=MAX_TEXT_CHARS,
        description="The input itself, only where the serve config logs inputs.",
    )


class FeedbackRecord(_Record):
    """The true label of one text of an earlier request, as a client reported it."""

    kind: Literal["feedback"] = "feedback"
    label: str = Field(max_length=MAX_LABEL_CHARS)
    note: str | None = Field(None, max_length=MAX_NOTE_CHARS)


class DropFile(BaseModel):
    """One file of the drop as a reader used it: exactly its first ``bytes`` bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    lines: int
    bytes: int
    sha256: str


DropRecord = Annotated[PredictionRecord | FeedbackRecord, Field(discriminator="kind")]
DROP_RECORD = TypeAdapter(DropRecord)


def encode(records: list[str]) -> list[bytes]:
    """Pack JSON lines into as few datagrams as the size limit allows; a line longer than
    the limit alone is left out (the caller counts what it sent)."""
    datagrams: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in records:
        data = line.encode() + b"\n"
        if len(data) > MAX_DATAGRAM_BYTES:
            continue
        if size + len(data) > MAX_DATAGRAM_BYTES:
            datagrams.append(b"".join(current))
            current, size = [], 0
        current.append(data)
        size += len(data)
    if current:
        datagrams.append(b"".join(current))
    return datagrams


def lines_of(datagram: bytes) -> list[bytes]:
    return [line for line in datagram.split(b"\n") if line.strip()]


# Feedback is acknowledged: a replica hands each feedback record to the keeper over a
# SOCK_SEQPACKET connection on this socket (beside the datagram socket, in the same folder only
# the serve zone may pass) and answers its client 202 only on ``ACK_KEPT``: the record is on
# disk (written and fsynced). ``ACK_FULL``: the drop's feedback share is used up (the client
# gets 503 with a long Retry-After); anything else, or no answer within the sender's timeout,
# is a 503 to retry soon. The serve zone learns one of these words per record and nothing of
# what the drop holds.
FEEDBACK_SOCKET_NAME = "feedback.sock"
ACK_KEPT = b"kept"
ACK_FULL = b"full"
ACK_REFUSED = b"refused"  # not a valid feedback record, or a sender the keeper does not accept
ACK_FAILED = b"failed"  # the keeper could not write it (disk full, I/O error)
# Feedback lives in files of its own, so evicting payload samples never touches a label.
FEEDBACK_FILE_PREFIX = "feedback-"


def feedback_socket_of(drop_socket: str) -> str:
    """The acknowledged feedback socket beside the keeper's datagram socket."""
    return str(Path(drop_socket).with_name(FEEDBACK_SOCKET_NAME))
