"""What the serving core refuses, as its own exceptions, and the status each means, in one
table (the HTTP routes answer with it, and so does an application answering another's
hand-off over a Serve handle); ``serving/http/errors.py`` turns them into responses."""

from __future__ import annotations

from typing import ClassVar


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


class ListingUnavailable(ServingError):
    """The platform's models could not be gathered (Serve's controller busy or restarting)
    and no earlier list is kept."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


STATUS: dict[type[ServingError], int] = {
    ListingUnavailable: 503,
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
