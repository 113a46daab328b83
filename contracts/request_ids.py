"""Request ids that any replica of the zone can recognise, with no shared state.

Every response carries an id (``x-bulkhead-request-id``); feedback names it. The serve zone can't
read its own payload log back (it is a one-way drop), and feedback may reach another replica
than the request did, or one started since, so an id must prove by itself that this zone
issued it, for which model, and when: ``<ms since epoch, hex>.<12 random hex>.<mac>``, the mac
an HMAC-SHA256 (first 16 bytes) over the first two parts and the model name, keyed by a
secret every replica of the zone shares (``BULKHEAD_REQUEST_ID_KEY_FILE``). A made-up or
mistyped id, or one issued for another model, does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from contracts.drop import REQUEST_ID_KEY_FILE_ENV

MIN_KEY_BYTES = 16


class RequestIdError(ValueError):
    """The id was not issued by this zone for this model, or is too old."""


class UnknownRequestId(RequestIdError):
    """Not issued by this zone for this model (made up, mistyped, another model's)."""


class RequestIdTooOld(RequestIdError):
    """Issued here, longer ago than feedback is accepted for."""


class RequestIds:
    def __init__(self, key: bytes | None, clock: Callable[[], float] = time.time) -> None:
        """``key`` None: ids are still issued (unique, unsigned by a shared key) but none can
        be verified, so feedback is refused with a reason."""
        if key is not None and len(key) < MIN_KEY_BYTES:
            raise ValueError(f"request-id key shorter than {MIN_KEY_BYTES} bytes")
        self.shared = key is not None
        self._key = key if key is not None else secrets.token_bytes(32)
        self._clock = clock

    @classmethod
    def from_environment(cls) -> RequestIds:
        path = os.environ.get(REQUEST_ID_KEY_FILE_ENV)
        return cls.from_file(Path(path)) if path else cls(None)

    @classmethod
    def from_file(cls, path: Path) -> RequestIds:
        """The shared key in ``path``; unreadable or too short: ids that verify nothing."""
        try:
            key = path.read_bytes().strip()
        except OSError:
            return cls(None)
        return cls(key if len(key) >= MIN_KEY_BYTES else None)

    def _mac(self, stem: str, model: str) -> str:
        digest = hmac.new(self._key, f"{stem}.{model}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def issue(self, model: str) -> str:
        stem = f"{int(self._clock() * 1000):x}.{secrets.token_hex(6)}"
        return f"{stem}.{self._mac(stem, model)}"

    def verify(self, request_id: str, model: str, max_age_s: float) -> float:
        """The time the id was issued; ``RequestIdError`` saying why it is not accepted."""
        parts = request_id.split(".")
        # Ids are ASCII by construction, and ``hmac.compare_digest`` raises TypeError on a
        # str with anything else in it: a non-ASCII id is simply not one of ours.
        if len(parts) != 3 or not self.shared or not request_id.isascii():
            raise UnknownRequestId(f"unknown request id {request_id[:80]!r}")
        stem = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(parts[2], self._mac(stem, model)):
            raise UnknownRequestId(
                f"unknown request id {request_id[:80]!r} for model {model!r} (ids are issued "
                "per model: send feedback to the model that answered)"
            )
        issued = int(parts[0], 16) / 1000
        age = self._clock() - issued
        if age > max_age_s:
            raise RequestIdTooOld(
                f"request {request_id} is {age / 3600:.1f} h old; feedback is accepted for "
                f"{max_age_s / 3600:.0f} h"
            )
        return issued
