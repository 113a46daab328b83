"""One FastAPI app per replica, around that replica's core and guards."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from serving.core import ServingCore
from serving.http import oip, v1
from serving.http.base_app import serving_app
from serving.http.middleware import Guards


def build_api(core: ServingCore, guards: Guards) -> FastAPI:
    api = serving_app(
        "Bulkhead serving",
        "Predictions from the registry's champion model of each served model. "
        "Send `Authorization: Bearer <API key>` on /v1 and /v2/models routes. /v2 speaks the "
        "Open Inference Protocol (with Triton's binary tensor extension).",
        guards,
        core.request_ids,
        lambda: core.config.model_name,
    )
    authenticated = [Depends(guards.api_key.dependency(lambda: guards.model))]
    api.include_router(v1.router(core, authenticated))
    api.include_router(oip.router(core, authenticated))
    return api
