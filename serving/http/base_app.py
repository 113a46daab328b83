"""The one way to build a serving app: the guards in their security-relevant order and every
refusal in the project's error shape, for each model's application and the model family's.

Order, outermost first: the per-hop timer (a request that asks for its split is timed from
entry); the request id (every response, refusals included, names its request); the API-key
gate (nobody without the key gets a slot, and a path no route answers is a 404 before the
key); admission (an overloaded replica refuses before reading any body); the body limit.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.request_ids import RequestIds
from serving.http import errors
from serving.http.hops import HopTiming
from serving.http.middleware import AdmissionLimit, ApiKeyGate, BodyLimit, Guards
from serving.http.request_id import RequestIdHeader


def serving_app(
    title: str,
    description: str,
    guards: Guards,
    ids: RequestIds,
    model: Callable[[], str],
) -> FastAPI:
    api = FastAPI(title=title, description=description, version="1")
    # Starlette runs the middleware added last first: added innermost to outermost.
    api.add_middleware(BodyLimit, guards=guards)
    api.add_middleware(AdmissionLimit, guards=guards)
    api.add_middleware(ApiKeyGate, guards=guards)
    api.add_middleware(RequestIdHeader, ids=ids, model=model)
    api.add_middleware(HopTiming)
    api.add_exception_handler(errors.ServingError, errors.handle)
    api.add_exception_handler(StarletteHTTPException, errors.http_error)
    api.add_exception_handler(RequestValidationError, errors.validation_error)
    return api
