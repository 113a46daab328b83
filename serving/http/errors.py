"""Every error a route can answer with, mapped to its status code in one table."""

from __future__ import annotations

from typing import ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse


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


class PeerRefused(ServingError):
    """Another model's application refused a call handed to it (serving/peers.py): answered
    with that application's own status, detail and headers (502 if it gave none)."""

    def __init__(self, detail: str, status: int = 502, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.headers = dict(headers or {})  # type: ignore[misc]


STATUS: dict[type[ServingError], int] = {
    InvalidInput: 422,
    UnknownModel: 404,
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


async def handle(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServingError)
    return JSONResponse(
        {"detail": error.detail}, status_code=status_of(error), headers=error.headers
    )
