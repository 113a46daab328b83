"""The registry's server app: MLflow basic-auth, plus rules MLflow does not have.

MLflow lets every authenticated user create experiments, registered models, prompts,
webhooks, gateway secrets, scorers, datasets and more (and then grants the creator MANAGE on
them), whatever ``default_permission`` says. For Bulkhead that would let the serve zone's
read-only ``server`` user, or a stolen copy of any zone's credentials, create resources and
upload artefacts to the shared store. Here a non-admin may only call the writes a zone's work
needs, listed below; everything else that changes state is refused with 403 whatever MLflow's
own permissions say. MLflow's per-resource checks still apply to the calls allowed here.

The manifest digest a version was registered with is set once, in the create call; nobody but
an admin may change or delete it afterwards, so a version's files stay pinned. And no one but an
admin writes the artefacts of a run that has ended: registered bundles cannot be replaced.

Run it with ``mlflow server --app-name bulkhead-auth`` (an ``mlflow.app`` entry point).
"""

from __future__ import annotations

import os
import re
from typing import Any

from flask import Flask, g, jsonify, make_response, request

from contracts import env
from contracts.tags import MANIFEST_DIGEST_TAG, SIGNER_TAGS, SIGNER_USER
from registry import alias_poll

CREATORS_ENV = env.REGISTRY_CREATORS
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_API_PREFIXES = ("/api/2.0/", "/api/3.0/", "/ajax-api/2.0/", "/ajax-api/3.0/")
# The state-changing calls zone users make (ingest: dataset runs; trainer: runs, bundles,
# versions, aliases). Reads that MLflow sends as POST (searches) are allowed too.
ZONE_WRITES = frozenset(
    {
        "mlflow/runs/create",
        "mlflow/runs/update",
        "mlflow/runs/log-batch",
        "mlflow/runs/log-metric",
        "mlflow/runs/log-parameter",
        "mlflow/runs/set-tag",
        "mlflow/runs/log-inputs",
        "mlflow/runs/log-outputs",
        "mlflow/model-versions/create",
        "mlflow/model-versions/set-tag",
        "mlflow/registered-models/alias",
        "mlflow/registered-models/set-tag",
    }
)
_READ_POSTS = ("/search", "/search-datasets")
_ARTIFACT_UPLOAD = "mlflow-artifacts/artifacts/"
_DIGEST_ROUTES = ("mlflow/model-versions/set-tag", "mlflow/model-versions/delete-tag")
SIGNER_WRITE_ROUTE = "mlflow/model-versions/set-tag"


def _creators() -> frozenset[str]:
    return frozenset(
        name.strip() for name in os.environ.get(CREATORS_ENV, "").split(",") if name.strip()
    )


def _api_route(path: str) -> str | None:
    for prefix in _API_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) :]
    return None


def zone_may_call(method: str, path: str) -> bool:
    """Whether a non-admin may make this call at all (MLflow then checks the resource)."""
    if method not in _WRITE_METHODS:
        return True
    route = _api_route(path)
    if route is None:
        return False  # every write of MLflow's lives under its API prefixes
    if route in ZONE_WRITES or (method == "POST" and route.endswith(_READ_POSTS)):
        return True
    return method == "PUT" and route.startswith(_ARTIFACT_UPLOAD)


_RUN_ID = re.compile(r"[0-9a-f]{32}")


def artifact_write_refusal(method: str, route: str) -> str | None:
    """Why a zone user may not make this artefact upload, or None. Fails closed: the only
    upload a zone makes is into a run of its own while that run runs
    (``<experiment>/<run id>/artifacts/<path>``, what ``log_artifacts`` sends); a run that
    has ended (FINISHED, FAILED, KILLED) is never written again, so a registered version's
    bundle cannot be replaced through its run. Any other form (a logged model's folder, a
    path with empty, ``.`` or ``..`` parts, a run the store does not know) is refused."""
    if method != "PUT" or not route.startswith(_ARTIFACT_UPLOAD):
        return None
    parts = route[len(_ARTIFACT_UPLOAD) :].split("/")
    if (
        len(parts) < 4
        or not parts[0].isdigit()
        or not _RUN_ID.fullmatch(parts[1])
        or parts[2] != "artifacts"
        or any(part in ("", ".", "..") for part in parts)
    ):
        return f"write artefacts at {route[len(_ARTIFACT_UPLOAD) :]!r} (not a run's own files)"
    from mlflow.server.handlers import _get_tracking_store

    try:
        status = _get_tracking_store().get_run(parts[1]).info.status  # type: ignore[no-untyped-call]
    except Exception:
        return f"write artefacts of run {parts[1]}, which the registry does not know"
    return None if status == "RUNNING" else f"write artefacts of run {parts[1]}, which has ended"


def _refuse(username: str, what: str) -> Any:
    body = {
        "error_code": "PERMISSION_DENIED",
        "message": f"user {username!r} may not {what} (Bulkhead registry: admins only)",
    }
    return make_response(jsonify(body), 403)


def refuse_what_zones_must_not_do() -> Any:
    """Runs after MLflow's own check, so the user is already authenticated (or refused)."""
    if request.method not in _WRITE_METHODS:
        return None
    from mlflow.server.auth import sender_is_admin

    username = getattr(g, "mlflow_authenticated_user", None)
    if username is None or bool(sender_is_admin()):  # type: ignore[no-untyped-call]
        return None
    if username in _creators():
        return None
    if not zone_may_call(request.method, request.path):
        return _refuse(username, f"call {request.method} {request.path}")
    route = _api_route(request.path) or ""
    refusal = artifact_write_refusal(request.method, route)
    if refusal is not None:
        return _refuse(username, refusal)
    body = request.get_json(silent=True) if route in _DIGEST_ROUTES else None
    key = body.get("key") if isinstance(body, dict) else None
    refusal = signer_rule(username, request.method, route, key)
    if refusal is not None:
        return _refuse(username, refusal)
    if key == MANIFEST_DIGEST_TAG:
        return _refuse(username, f"change {MANIFEST_DIGEST_TAG} of a registered version")
    return None


def signer_rule(username: str, method: str, route: str, tag_key: object) -> str | None:
    """What the signer's user and everyone else may not do, or None. The signer writes its
    verdict on a version and nothing else (its EDIT on the model would let it move aliases);
    nobody else writes or deletes a verdict (a zone could not forge a signature, but it could
    erase one and stop a version being served)."""
    if method not in _WRITE_METHODS or (method == "POST" and route.endswith(_READ_POSTS)):
        return None
    if username == SIGNER_USER:
        if route == SIGNER_WRITE_ROUTE and tag_key in SIGNER_TAGS:
            return None
        return f"call {method} {route}" + (f" with tag {tag_key!r}" if tag_key else "")
    if route in _DIGEST_ROUTES and tag_key in SIGNER_TAGS:
        return f"write or delete the signer's tag {tag_key!r}"
    return None


def _guard_native_routes(served: Any) -> None:
    """The same rules for the routes MLflow serves with FastAPI itself (artefact uploads and
    downloads, the gateway): they never reach Flask's hooks. Added after MLflow's permission
    middleware, so it runs first; an unauthenticated request is left to MLflow's 401."""
    from mlflow.server.auth import _authenticate_fastapi_request
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    @served.middleware("http")  # type: ignore[untyped-decorator]
    async def bulkhead_rules(request: Any, call_next: Any) -> Any:
        if not alias_poll.is_registry_write(request.method, _api_route(request.url.path)):
            return await guarded(request, call_next)
        # Whatever the outcome, the cached alias answers may be stale from now until the
        # write has been answered (registry/alias_poll.py: AnswerCache).
        alias_poll.answers.write_started()
        try:
            return await guarded(request, call_next)
        finally:
            alias_poll.answers.write_ended()

    async def guarded(request: Any, call_next: Any) -> Any:
        path = request.url.path
        route = _api_route(path)
        if request.method not in _WRITE_METHODS or route is None:
            return await call_next(request)
        user = await run_in_threadpool(_authenticate_fastapi_request, request)
        if user is None or user.is_admin or user.username in _creators():
            return await call_next(request)
        what = None
        if not zone_may_call(request.method, path) or (
            # The signer writes only its version tags: Flask's hook checks which tag.
            user.username == SIGNER_USER and route != SIGNER_WRITE_ROUTE
        ):
            what = f"call {request.method} {path}"
        else:
            what = await run_in_threadpool(artifact_write_refusal, request.method, route)
        if what is None:
            return await call_next(request)
        body = {
            "error_code": "PERMISSION_DENIED",
            "message": f"user {user.username!r} may not {what} (Bulkhead registry: admins only)",
        }
        return JSONResponse(body, status_code=403)


def create_app(app: Flask | None = None) -> Any:
    from mlflow.server import app as mlflow_flask_app
    from mlflow.server.auth import create_app as create_basic_auth_app

    flask_app = app if app is not None else mlflow_flask_app
    served = create_basic_auth_app(flask_app)
    # Registered after MLflow's hook, so it sees the authenticated user; before any request.
    flask_app.before_request(refuse_what_zones_must_not_do)
    if served is not flask_app:  # under uvicorn MLflow returns a FastAPI app around Flask
        _guard_native_routes(served)
        alias_poll.add_route(served, flask_app)
    return served
