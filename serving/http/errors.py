"""Every error a route can answer with (serving/errors.py), mapped to its status code in one
table, and the handlers that answer them in the project's error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.serve_api import error_body, speaks_oip
from serving.errors import (
    STATUS,
    FeedbackDropFull,
    FeedbackUnavailable,
    InvalidInput,
    NoModelYet,
    PeerRefused,
    RequestTooOld,
    ServingError,
    TooManyFeedback,
    UnknownModel,
    UnknownRequest,
    UnsupportedEncoding,
    status_of,
)

__all__ = [
    "STATUS",
    "FeedbackDropFull",
    "FeedbackUnavailable",
    "InvalidInput",
    "NoModelYet",
    "PeerRefused",
    "RequestTooOld",
    "ServingError",
    "TooManyFeedback",
    "UnknownModel",
    "UnknownRequest",
    "UnsupportedEncoding",
    "handle",
    "http_error",
    "no_route",
    "oip_status",
    "status_of",
    "validation_error",
]


def oip_status(status: int) -> int:
    """The protocol's clients expect 400 for a request they got wrong, where /v1 says 422."""
    return 400 if status == 422 else status


async def handle(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServingError)
    path = request.scope.get("path", "")
    status = status_of(error)
    if speaks_oip(path):
        status = oip_status(status)
    return JSONResponse(error_body(path, error.detail), status_code=status, headers=error.headers)


def no_route(scope: Mapping[str, Any]) -> str:
    """The 404 for a path no route of this application answers (its first 200 characters)."""
    return f"no such route: {scope.get('method', '')} {str(scope.get('path', ''))[:200]}"


def _readable(request: Request, error: StarletteHTTPException) -> str:
    if error.status_code == 404 and error.detail == "Not Found":
        return no_route(request.scope)
    if error.status_code == 405:
        method, path = request.scope.get("method", ""), str(request.scope.get("path", ""))[:200]
        return f"{method} is not allowed on {path}"
    return str(error.detail)


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) in the project's error shape:
    one readable ``detail`` (``error`` on /v2), like every other refusal."""
    assert isinstance(error, StarletteHTTPException)
    path = request.scope.get("path", "")
    return JSONResponse(
        error_body(path, _readable(request, error)),
        status_code=error.status_code,
        headers=error.headers,
    )


async def validation_error(request: Request, error: Exception) -> Response:
    """A body that does not fit the route's model: one readable message (the first problem)
    in the project's shape, 422 on /v1 with every problem under ``errors``, 400 on /v2."""
    assert isinstance(error, RequestValidationError)
    path = request.scope.get("path", "")
    problems = error.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", ())) or "request"
    body: dict[str, object] = dict(error_body(path, f"{where}: {first.get('msg')}"))
    if speaks_oip(path):
        return JSONResponse(body, status_code=400)
    body["errors"] = jsonable_encoder(
        [{k: p[k] for k in ("loc", "msg", "type") if k in p} for p in problems]
    )
    return JSONResponse(body, status_code=422)
