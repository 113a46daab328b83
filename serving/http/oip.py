"""The Open Inference Protocol (KServe v2) routes: health, server and model metadata,
readiness and inference, per model and per version, as Triton's and KServe's clients call them.

The bytes on the wire are ``serving/http/oip_wire.py``'s. Errors carry the protocol's
``{"error": ...}`` body (serving/http/errors.py).
(No ``from __future__ import annotations``: FastAPI reads the route signatures' types.)
"""

from importlib import metadata as package_metadata
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from contracts.serve_api import LIVE, OIP_MODELS, OIP_ROOT, READY
from serving.core import ServingCore
from serving.http import oip_wire, request_id
from serving.http.params import ClientKey
from serving.http.telemetry import observed
from serving.peers import PeerAnswer, PeerOp
from serving.schemas import (
    InferRequest,
    InferResponse,
    ModelMetadata,
    ServerMetadata,
    TensorMeta,
)

INFER_ROUTE = "/v2/infer"  # the metrics label of every model's infer route
VERSIONED = OIP_MODELS + "/{name}/versions/{version}"
# Triton's binary tensor extension (serving/http/oip_wire.py); the protocol's core needs none.
EXTENSIONS = ("binary_tensor_data",)


def server_metadata() -> ServerMetadata:
    try:
        release = package_metadata.version("bulkhead")
    except package_metadata.PackageNotFoundError:  # a source tree that was never installed
        release = "0"
    return ServerMetadata(name="bulkhead", version=release, extensions=list(EXTENSIONS))


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic schema with its ``$defs`` inlined, to stand alone inside OpenAPI."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return dict(walk(schema))


# The infer body is read raw, so FastAPI cannot see its model: documented here for the
# OpenAPI page and the fuzz tests (binary tensors are described in oip_wire.py).
INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inlined(InferRequest.model_json_schema())}},
    }
}


def model_metadata(name: str, version: str, labels: list[str]) -> ModelMetadata:
    return ModelMetadata(
        name=name,
        versions=[version],
        platform="onnxruntime_onnx",
        inputs=[TensorMeta(name="text", datatype="BYTES", shape=[-1])],
        outputs=[
            TensorMeta(name="label", datatype="BYTES", shape=[-1]),
            TensorMeta(name="score", datatype="FP32", shape=[-1]),
            TensorMeta(name="scores", datatype="FP32", shape=[-1, len(labels)]),
        ],
    )


def router(core: ServingCore, authenticated: list[Any]) -> APIRouter:
    api = APIRouter()

    @api.get(LIVE)
    async def live(response: Response) -> dict[str, bool]:
        async with observed(core.metrics, LIVE, response):
            return {"live": True}

    @api.get(READY)
    async def ready(response: Response) -> JSONResponse:
        async with observed(core.metrics, READY, response) as call:
            predictor = core.lifecycle.current
            if predictor is None:
                # Unauthenticated: says whether, never why (registry errors stay on /v1/status).
                call.status = 503
                return JSONResponse(
                    {"ready": False, "reason": "no verified model yet"}, status_code=503
                )
            return JSONResponse({"ready": True, "model_version": predictor.info.version})

    @api.get(OIP_ROOT, response_model=ServerMetadata)
    async def server(response: Response) -> ServerMetadata:
        async with observed(core.metrics, OIP_ROOT, response):
            return server_metadata()

    async def reach(
        name: str,
        op: PeerOp,
        texts: list[str],
        client_key: str | None,
        version: str | None,
        issued: str | None = None,
    ) -> PeerAnswer:
        """The model's answer, from this application or the one serving it (one path for
        both: ServingCore.endpoint); a refusal is raised as its own status and detail."""
        answer = await core.endpoint(name)(op, texts, client_key, version, issued)
        if answer.status != 200:
            raise answer.error()
        return answer

    # Each route twice: for the model, and for one version of it (``/versions/{version}``:
    # only the version it serves, its champion, answers; see ServingCore.pinned).
    @api.get(OIP_MODELS + "/{name}", response_model=ModelMetadata, dependencies=authenticated)
    @api.get(VERSIONED, response_model=ModelMetadata, dependencies=authenticated)
    async def metadata(name: str, response: Response, version: str | None = None) -> ModelMetadata:
        async with observed(core.metrics, OIP_MODELS, response):
            answer = await reach(name, "metadata", [], None, version)
            return model_metadata(name, answer.version, answer.labels)

    @api.get(OIP_MODELS + "/{name}/ready", dependencies=authenticated)
    @api.get(VERSIONED + "/ready", dependencies=authenticated)
    async def model_ready(
        name: str, response: Response, version: str | None = None
    ) -> dict[str, bool]:
        async with observed(core.metrics, OIP_MODELS, response):
            await reach(name, "metadata", [], None, version)
            return {"ready": True}

    infer_options: dict[str, Any] = {
        "dependencies": authenticated,
        "response_model": InferResponse,
        "openapi_extra": INFER_BODY,
    }

    @api.post(OIP_MODELS + "/{name}/infer", **infer_options)
    @api.post(VERSIONED + "/infer", **infer_options)
    async def infer(
        name: str,
        request: Request,
        response: Response,
        client_key: ClientKey = None,
        version: str | None = None,
    ) -> Response:
        """The body is read raw (see serving/http/oip_wire.py): JSON whatever the
        Content-Type, or Triton's binary tensors after a JSON header. The answering
        application logs the call under its own payload-log policy (another model's
        `inputs: hash` or `enabled: false` holds)."""
        async with observed(core.metrics, INFER_ROUTE, response) as call:
            decoded = oip_wire.decode_infer(
                await request.body(),
                request.headers.get(oip_wire.HEADER_LENGTH),
                request.headers.get("content-encoding"),
            )
            answer = await call.timed(
                reach(name, "infer", decoded.texts, client_key, version, request_id.current())
            )
            call.answered(answer.version)
            encoded = oip_wire.encode_infer(
                name, answer.version, decoded, answer.predictions, answer.labels
            )
            return Response(
                encoded.body,
                media_type=encoded.media_type,
                headers={**response.headers, **encoded.headers},
            )

    return api
