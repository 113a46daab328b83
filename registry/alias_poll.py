"""A cheap alias lookup for the replicas that poll the registry every few seconds.

MLflow's own ``registered-models/alias`` call costs the registry 13-33 ms of CPU (measured on
2 cores): its permission check loads the whole registered model with every version, the
handler loads it again, and an after-request hook redacts siblings; the cost grows with the
number of versions. Every replica makes that call every ``poll_interval_s``, so the registry's
load grew with replicas times versions. This route answers the same question:

    GET /bulkhead/v1/alias?name=NAME&alias=ALIAS   ->  {"name", "version", "run_id", "source",
                                                        "tags", "rollout"} with an ETag; 304 on
                                                        a match

- authenticated by MLflow's basic auth (with its verified-credential cache): 401 without;
- allowed only where MLflow's own rules let the user read the registered model (evaluated by
  MLflow's permission function, remembered per user and model for ``PERMISSION_TTL_S``): 403;
- answered from a per-process cache for at most ``BULKHEAD_REGISTRY_ALIAS_CACHE_S`` (1 s
  unless set; `bulkhead up`'s single registry process uses 30 s), emptied when a write to the
  model registry (a promotion, a tag, a new version) enters this process and again when it
  has been answered; no answer read while a write was in flight is kept (``AnswerCache``).

``GET /bulkhead/v1/changes`` (the model signer and admins; 403 for anyone else) answers the
same process's write generation as an ETag (304 on a match): whether any model-registry write
has passed this process since the caller last asked. With several registry processes a write
passes one of them only, so a caller still does its full pass now and then (the signer: every
30 s).

A client may ask for a fresh lookup with ``Cache-Control: no-cache``. A replica sends the ETag
of its last answer; when nothing changed the registry answers 304 with
no body. It lives on the FastAPI app MLflow serves (never reaching Flask), so a poll skips
the WSGI bridge as well.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from contracts import env
from contracts.registry_api import ALIAS_POLL_ROUTE as ROUTE
from contracts.registry_api import CHANGES_ROUTE
from contracts.rollout import effective_rollout
from contracts.tags import SIGNER_USER

DEFAULT_ANSWER_TTL_S = 1.0
PERMISSION_TTL_S = 30.0
_REGISTRY_WRITES = ("mlflow/registered-models/", "mlflow/model-versions/")


class TimedCache:
    """A small thread-safe map whose entries expire; ``clear`` empties it at once."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self._clock():
                self._entries.pop(key, None)
                return None
            return entry[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._entries) > 10_000:  # bounded whatever callers send
                self._entries.clear()
            self._entries[key] = (self._clock() + self.ttl_s, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def answer_ttl_s() -> float:
    """``BULKHEAD_REGISTRY_ALIAS_CACHE_S`` (0-300 s), else 1 s: safe with several registry
    processes, where a write clears only the cache of the process it passed."""
    raw = os.environ.get(env.REGISTRY_ALIAS_CACHE_S, "")
    try:
        value = float(raw) if raw else DEFAULT_ANSWER_TTL_S
    except ValueError:
        value = DEFAULT_ANSWER_TTL_S
    return min(max(value, 0.0), 300.0)


class AnswerCache(TimedCache):
    """A ``TimedCache`` that never keeps an answer a registry write may have made stale.

    Emptying the cache only when a write arrives is not enough: a poll answered between the
    write's arrival and its commit (the write waits for its credential check and Flask's
    thread) would cache the old version again, and with a 30 s lifetime the replicas would
    follow a promotion 30 s late (seen in CI: 31.7 s). So every write is bracketed
    (``write_started``/``write_ended`` each empty the cache and bump a generation), and a
    lookup is kept only if no write started or ended while it ran and none is in flight."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl_s, clock)
        self._generation = 0
        self._writes_in_flight = 0

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def writes(self) -> tuple[int, int]:
        """(generation, writes in flight)."""
        with self._lock:
            return self._generation, self._writes_in_flight

    def write_started(self) -> None:
        with self._lock:
            self._writes_in_flight += 1
            self._generation += 1
            self._entries.clear()

    def write_ended(self) -> None:
        with self._lock:
            self._writes_in_flight = max(0, self._writes_in_flight - 1)
            self._generation += 1
            self._entries.clear()

    def put_if_unchanged(self, key: Any, value: Any, generation: int) -> bool:
        """Keep ``value`` (read when ``generation()`` was ``generation``) unless a write may
        have changed what it says."""
        with self._lock:
            if generation != self._generation or self._writes_in_flight:
                return False
            if len(self._entries) > 10_000:  # bounded whatever callers send
                self._entries.clear()
            self._entries[key] = (self._clock() + self.ttl_s, value)
            return True


answers = AnswerCache(answer_ttl_s())
permissions = TimedCache(PERMISSION_TTL_S)
# Tells this process's generations from another's (or a restarted one's).
PROCESS_ID = uuid.uuid4().hex[:12]


def may_watch_changes(username: str, is_admin: bool) -> bool:
    """The model signer (its only caller) and admins; no zone learns when others write."""
    return is_admin or username == SIGNER_USER


def changes_etag() -> str:
    """This process's write generation; a write in flight makes every answer unique, so a
    caller never takes an answer read mid-write as "nothing changed"."""
    generation, in_flight = answers.writes()
    suffix = f"-w{uuid.uuid4().hex[:8]}" if in_flight else ""
    return f'"{PROCESS_ID}-{generation}{suffix}"'


def is_registry_write(method: str, route: str | None) -> bool:
    return method in {"POST", "PUT", "PATCH", "DELETE"} and bool(
        route and route.startswith(_REGISTRY_WRITES)
    )


def etag_of(answer: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(answer, sort_keys=True).encode()).hexdigest()
    return f'"{digest[:32]}"'


def _rollout_json(model_tags: dict[str, str]) -> str | None:
    state = effective_rollout(model_tags)
    return state.model_dump_json() if state is not None else None


def _lookup(name: str, alias: str) -> dict[str, Any]:
    from mlflow.server.handlers import _get_model_registry_store

    store = _get_model_registry_store()
    version = store.get_model_version_by_alias(name, alias)  # type: ignore[no-untyped-call]
    model_tags = store.get_registered_model(name).tags or {}  # type: ignore[no-untyped-call]
    return {
        "name": name,
        "version": str(version.version),
        "run_id": version.run_id,
        "source": version.source,
        "tags": dict(version.tags or {}),
        # The model's progressive rollout, if any: replicas follow it with the alias.
        # (An ended rollout's end record wins over a state tag written after it.)
        "rollout": _rollout_json(model_tags),
    }


def _may_read(flask_app: Any, authorization: str, name: str) -> bool:
    """MLflow's own decision for ``GET registered-models/alias?name=NAME``, made by its own
    functions in a request context of that call."""
    from mlflow.server.auth import _get_permission_from_registered_model_name, sender_is_admin

    with flask_app.test_request_context(
        path="/api/2.0/mlflow/registered-models/alias",
        method="GET",
        headers={"Authorization": authorization},
        query_string={"name": name},
    ):
        if sender_is_admin():  # type: ignore[no-untyped-call]
            return True
        return bool(_get_permission_from_registered_model_name().can_read)


def add_route(served: Any, flask_app: Any) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth import _authenticate_fastapi_request
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, Response

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error_code": code, "message": message}, status_code=status)

    @served.get(ROUTE, include_in_schema=False)  # type: ignore[untyped-decorator]
    async def alias(request: Request) -> Response:
        # Off the event loop: a password MLflow has not cached costs a salted hash (~0.5 s), and
        # wrong passwords are never cached; on the loop they would stall every other request.
        user = await run_in_threadpool(_authenticate_fastapi_request, request)
        if user is None:
            return error(401, "UNAUTHENTICATED", "registry credentials required")
        name = request.query_params.get("name", "")
        alias_name = request.query_params.get("alias", "")
        if not name or not alias_name or len(name) > 256 or len(alias_name) > 256:
            return error(400, "INVALID_PARAMETER_VALUE", "name and alias are required")
        allowed = permissions.get((user.username, name))
        if allowed is None:
            authorization = request.headers.get("authorization", "")
            allowed = await run_in_threadpool(_may_read, flask_app, authorization, name)
            permissions.put((user.username, name), allowed)
        if not allowed:
            return error(403, "PERMISSION_DENIED", f"{user.username!r} may not read {name!r}")
        # ``Cache-Control: no-cache`` asks for a fresh lookup (HTTP's meaning): no more than
        # MLflow's own call, which the same user may make anyway.
        fresh = "no-cache" in request.headers.get("cache-control", "")
        answer: dict[str, Any] | None = None if fresh else answers.get((name, alias_name))
        if answer is None:
            generation = answers.generation()
            try:
                answer = await run_in_threadpool(_lookup, name, alias_name)
            except MlflowException as err:
                status = int(err.get_http_status_code())  # type: ignore[no-untyped-call]
                return error(status, err.error_code, err.message)
            answers.put_if_unchanged((name, alias_name), answer, generation)
        tag = etag_of(answer)
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers={"ETag": tag})
        return JSONResponse(answer, headers={"ETag": tag, "Cache-Control": "no-cache"})

    @served.get(CHANGES_ROUTE, include_in_schema=False)  # type: ignore[untyped-decorator]
    async def changes(request: Request) -> Response:
        user = await run_in_threadpool(_authenticate_fastapi_request, request)
        if user is None:
            return error(401, "UNAUTHENTICATED", "registry credentials required")
        if not may_watch_changes(user.username, bool(user.is_admin)):
            # When the registry is written says when training and promotions happen.
            return error(403, "PERMISSION_DENIED", f"{user.username!r} may not watch changes")
        tag = changes_etag()
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers={"ETag": tag})
        return JSONResponse({"etag": tag}, headers={"ETag": tag, "Cache-Control": "no-cache"})

    # MLflow mounts its Flask app at "/" before we get here: a route appended after that
    # mount would never match, so ours go first.
    routes = served.router.routes
    routes.insert(0, routes.pop())
    routes.insert(0, routes.pop())
