"""One FastAPI app per replica, around that replica's core and guards."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.core import ServingCore
from serving.http import errors, oip, v1
from serving.http.hops import HopTiming
from serving.http.middleware import AdmissionLimit, ApiKeyGate, BodyLimit, Guards
from serving.http.request_id import RequestIdHeader


def build_api(core: ServingCore, guards: Guards) -> FastAPI:
    api = FastAPI(
        title="Bulkhead serving",
        description="Predictions from the registry's champion model of each served model. "
        "Send `Authorization: Bearer <API key>` on /v1 and /v2/models routes. /v2 speaks the "
        "Open Inference Protocol (with Triton's binary tensor extension).",
        version="1",
    )
    api.add_middleware(BodyLimit, guards=guards)
    # An overloaded replica refuses before reading any body...
    api.add_middleware(AdmissionLimit, guards=guards)
    # ...and, added last so it runs first, nobody without the key gets as far as a slot.
    api.add_middleware(ApiKeyGate, guards=guards)
    # Every response, refusals included, names its request.
    api.add_middleware(RequestIdHeader, ids=core.request_ids, model=lambda: core.config.model_name)
    # Outermost of all: a request that asks for its per-hop split is timed from entry.
    api.add_middleware(HopTiming)
    api.add_exception_handler(errors.ServingError, errors.handle)
    # FastAPI's own refusals too, in the Open Inference Protocol's error shape on /v2.
    api.add_exception_handler(StarletteHTTPException, errors.http_error)
    api.add_exception_handler(RequestValidationError, errors.validation_error)
    authenticated = [Depends(guards.api_key.dependency(lambda: guards.model))]
    api.include_router(v1.router(core, authenticated))
    api.include_router(oip.router(core, authenticated))
    return api
