"""The replica's API keys: the platform key from the file the zone hands it (compared in
constant time), and per-client keys with model scopes from the client-keys file (SHA-256
digests, re-read within a second of a change: `bulkhead keys add|revoke` needs no restart)."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from enum import Enum
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from contracts.client_keys import ClientKey, ClientKeys, key_digest
from contracts.serve_api import AUTH_SCHEME, MIN_API_KEY_LENGTH, Access, resolve

log = logging.getLogger("bulkhead.serving")

# How often a replica looks at the client-keys file (one stat): a revoked key stops working
# within this long of `bulkhead keys revoke` handing the new file over.
RELOAD_EVERY_S = 1.0


class Verdict(Enum):
    ALLOWED = 200
    UNKNOWN = 401  # no key, a wrong one, or a revoked one
    OUT_OF_SCOPE = 403  # a client key that may not call this model


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


class ClientKeyFile:
    """The client-keys file, re-read when its modification time or size changes. A file that
    is missing means no client keys; one that cannot be parsed keeps none either (fail
    closed) and says why in the log."""

    def __init__(self, path: str | None = None, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path) if path else None
        self._clock = clock
        self._checked = float("-inf")
        self._seen: tuple[int, int, int] | None = None
        self._keys: dict[str, ClientKey] = {}

    def lookup(self, token: str) -> ClientKey | None:
        now = self._clock()
        if now - self._checked >= RELOAD_EVERY_S:
            self._checked = now
            self._reload()
        return self._keys.get(key_digest(token)) if self._keys else None

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            stat = self.path.stat()
        except OSError:
            self._seen, self._keys = None, {}
            return
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # a replaced file: a new inode
        if seen == self._seen:
            return
        try:
            self._keys = ClientKeys.model_validate_json(self.path.read_text()).by_digest()
        except (OSError, ValueError) as err:
            log.error(
                "client keys file %s unusable (%s): no client key is accepted", self.path, err
            )
            self._keys = {}
        self._seen = seen


_CLIENT_KEY_ID = "bulkhead_client_key_id"
_CLIENT_KEY = "bulkhead_client_key"


def set_client_key(scope: MutableMapping[str, Any], key: ClientKey | None) -> None:
    """What the gate learnt of the request's key, for the handlers: its id and the key
    itself (None: the platform key, which may call every model)."""
    state = scope.setdefault("state", {})
    state[_CLIENT_KEY_ID] = key.id if key is not None else None
    state[_CLIENT_KEY] = key


async def client_scope(request: Request) -> Callable[[str], bool]:
    """Whether the request's key may call a model: what GET /v1/models filters by. A request
    the gate did not see (no key stored) may call nothing."""
    state = request.scope.get("state", {})
    if _CLIENT_KEY not in state:
        return lambda model: False
    key: ClientKey | None = state[_CLIENT_KEY]
    return key.allows if key is not None else lambda model: True


async def client_key_id(request: Request) -> str | None:
    """The id of the client key that authenticated this request (None: the platform key).
    A rollout's sticky canary assignment is keyed on it, never on a header the client
    chooses. Async: FastAPI runs a plain ``def`` dependency in a thread pool."""
    key_id = request.scope.get("state", {}).get(_CLIENT_KEY_ID)
    return key_id if isinstance(key_id, str) else None


class ApiKey:
    """One app's keys; ``reconfigure`` replaces ``value`` (the platform key) and ``clients``."""

    def __init__(self, value: bytes | None = None, clients: ClientKeyFile | None = None) -> None:
        self.value = value
        self.clients = clients or ClientKeyFile()

    def check(self, header: bytes | str, model: str) -> Verdict:
        return self.identify(header, model)[0]

    def identify(self, header: bytes | str, model: str) -> tuple[Verdict, ClientKey | None]:
        """The verdict, and the client key when one was used (None for the platform key):
        its id is what a rollout's sticky canary assignment is keyed on."""
        raw = header.decode("latin-1") if isinstance(header, bytes) else header
        scheme, _, token = raw.partition(" ")
        token = token.strip()
        if scheme.lower() != AUTH_SCHEME.lower() or len(token) < MIN_API_KEY_LENGTH:
            return Verdict.UNKNOWN, None
        if self.value is not None and hmac.compare_digest(token.encode(), self.value):
            return Verdict.ALLOWED, None
        client = self.clients.lookup(token)
        if client is None:
            return Verdict.UNKNOWN, None
        verdict = Verdict.ALLOWED if client.allows(model) else Verdict.OUT_OF_SCOPE
        return verdict, client

    def accepts(self, header: bytes | str, model: str = "") -> bool:
        return self.check(header, model) is Verdict.ALLOWED

    def dependency(self, model: Callable[[], str]) -> Callable[[Request], Awaitable[None]]:
        """The same check as a FastAPI dependency, for the OpenAPI schema's sake (and as a
        second lock behind the gate). Async on purpose: FastAPI runs a plain ``def``
        dependency in a thread pool, one thread hop per request."""

        async def require_api_key(request: Request) -> None:
            scope = request.scope
            resolved = resolve(scope.get("path", ""), scope.get("root_path", ""), model())
            target = (resolved.model if resolved else None) or model()
            verdict = self.check(request.headers.get("authorization", ""), target)
            if verdict is Verdict.OUT_OF_SCOPE and resolved and resolved.access is Access.LISTING:
                return  # any valid key may list; it sees only what it may call
            if verdict is Verdict.OUT_OF_SCOPE:
                raise HTTPException(403, f"this API key may not call model {target!r}")
            if verdict is not Verdict.ALLOWED:
                raise HTTPException(
                    401, "missing or wrong API key", headers={"WWW-Authenticate": AUTH_SCHEME}
                )

        return require_api_key
