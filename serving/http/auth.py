"""The replica's API key: read from the file the zone hands it, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import HTTPException, Request

from contracts.serve_api import AUTH_SCHEME, MIN_API_KEY_LENGTH


def load_api_key(path: str | None) -> bytes | None:
    """The key in ``path``, or None (refuse everything) when it is missing, empty or short:
    an empty or truncated key file must never let ``Authorization: Bearer `` through."""
    if not path:
        return None
    try:
        key = Path(path).read_text().strip()
    except OSError:
        return None
    return key.encode() if len(key) >= MIN_API_KEY_LENGTH else None


class ApiKey:
    """One app's key; ``reconfigure`` replaces ``value`` when the key file changes."""

    def __init__(self, value: bytes | None = None) -> None:
        self.value = value

    def accepts(self, header: bytes | str) -> bool:
        raw = header.decode("latin-1") if isinstance(header, bytes) else header
        scheme, _, token = raw.partition(" ")
        return (
            self.value is not None
            and scheme.lower() == AUTH_SCHEME.lower()
            and hmac.compare_digest(token.strip().encode(), self.value)
        )

    def dependency(self) -> Callable[[Request], Awaitable[None]]:
        """The same check as a FastAPI dependency, for the OpenAPI schema's sake (and as a
        second lock behind the gate). Async on purpose: FastAPI runs a plain ``def``
        dependency in a thread pool, one thread hop per request."""

        async def require_api_key(request: Request) -> None:
            if not self.accepts(request.headers.get("authorization", "")):
                raise HTTPException(
                    401, "missing or wrong API key", headers={"WWW-Authenticate": AUTH_SCHEME}
                )

        return require_api_key
