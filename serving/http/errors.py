"""Every error a route can answer with, mapped to its status code in one table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.serve_api import error_body, speaks_oip


class ServingError(Exception):
    """A request the replica answers with a 4xx/5xx and ``detail`` (never a traceback)."""

    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(ServingError):
    """Well-formed JSON that breaks a documented limit (text count, length, shape)."""


class UnknownModel(ServingError):
    """An OIP route named a model this deployment does not serve."""


class NoModelYet(ServingError):
    """No verified model loaded yet (starting, or every version so far refused)."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": "5"}


class UnsupportedEncoding(ServingError):
    """A compressed request body: the body limit counts bytes on the wire, so it is refused
    rather than inflated past that limit."""


class PeerRefused(ServingError):
    """Another model's application refused a call handed to it (serving/peers.py): answered
    with that application's own status, detail and headers (502 if it gave none)."""

    def __init__(self, detail: str, status: int = 502, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.headers = dict(headers or {})  # type: ignore[misc]


class UnknownRequest(ServingError):
    """Feedback named a request id this zone did not issue for this model."""


class RequestTooOld(ServingError):
    """Feedback for a request older than the config accepts."""


class FeedbackUnavailable(ServingError):
    """The drop cannot take feedback now (no keeper, queue full) or feedback is not set up."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": "5"}


class FeedbackDropFull(FeedbackUnavailable):
    """The drop's feedback share is used up: nothing is lost, the client retries later."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": "60"}


class TooManyFeedback(ServingError):
    """This client key sent feedback faster than its rate."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


STATUS: dict[type[ServingError], int] = {
    UnknownRequest: 404,
    RequestTooOld: 410,
    FeedbackUnavailable: 503,
    TooManyFeedback: 429,
    InvalidInput: 422,
    UnknownModel: 404,
    UnsupportedEncoding: 415,
    NoModelYet: 503,
    PeerRefused: 502,
}


def status_of(error: ServingError) -> int:
    own = getattr(error, "status", None)  # a refusal relayed from another application
    if isinstance(own, int):
        return own
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


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
