"""The Open Inference Protocol (KServe v2) routes, and the mapping to and from its tensors.

The mapping functions are pure, so the protocol's shapes are unit-tested without a server.
(No ``from __future__ import annotations``: FastAPI reads the route signatures' types.)
"""

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from contracts.serve_api import LIVE, OIP_MODELS, READY
from serving.core import ServingCore
from serving.http.errors import InvalidInput
from serving.http.params import ClientKey
from serving.http.telemetry import observed
from serving.peers import PeerAnswer, PeerOp
from serving.predictor import Prediction
from serving.schemas import InferOutput, InferRequest, InferResponse, ModelMetadata, TensorMeta

INFER_ROUTE = "/v2/infer"  # the metrics label of every model's infer route


def request_texts(payload: InferRequest) -> list[str]:
    """The texts of the request's single BYTES tensor; its shape must say how many."""
    tensor = payload.inputs[0]
    if tensor.shape != [len(tensor.data)]:
        raise InvalidInput(
            f"inputs[0].shape {tensor.shape} does not match {len(tensor.data)} texts"
        )
    return tensor.data


def infer_response(
    name: str,
    version: str,
    request_id: str | None,
    predictions: list[Prediction],
    labels: list[str],
) -> InferResponse:
    """Three output tensors: the label, its probability, and every label's probability."""
    n, k = len(predictions), len(labels)
    return InferResponse(
        model_name=name,
        model_version=version,
        id=request_id,
        outputs=[
            InferOutput(
                name="label", shape=[n], datatype="BYTES", data=[p.label for p in predictions]
            ),
            InferOutput(
                name="score", shape=[n], datatype="FP32", data=[p.score for p in predictions]
            ),
            InferOutput(
                name="scores",
                shape=[n, k],
                datatype="FP32",
                data=[p.scores[label] for p in predictions for label in labels],
            ),
        ],
    )


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

    async def peer_call(
        name: str, op: PeerOp, texts: list[str], client_key: str | None
    ) -> PeerAnswer | None:
        """None: ``name`` is this application's model. Another model's call is handed to its
        application; an unknown one is 404 (UnknownModel from ``named``)."""
        if name == core.config.model_name:
            return None
        if core.peer is None:
            core.is_served(name)
        assert core.peer is not None
        answer = await core.peer(name, op, texts, client_key)
        if answer.status != 200:
            raise answer.error()
        return answer

    @api.get(OIP_MODELS + "/{name}", response_model=ModelMetadata, dependencies=authenticated)
    async def metadata(name: str, response: Response) -> ModelMetadata:
        async with observed(core.metrics, OIP_MODELS, response):
            other = await peer_call(name, "metadata", [], None)
            if other is not None:
                return model_metadata(name, other.version, other.labels)
            predictor = core.named(name)
            return model_metadata(name, predictor.info.version, predictor.labels)

    @api.get(OIP_MODELS + "/{name}/ready", dependencies=authenticated)
    async def model_ready(name: str, response: Response) -> dict[str, bool]:
        async with observed(core.metrics, OIP_MODELS, response):
            if await peer_call(name, "metadata", [], None) is None:
                core.named(name)
            return {"ready": True}

    @api.post(
        OIP_MODELS + "/{name}/infer", response_model=InferResponse, dependencies=authenticated
    )
    async def infer(
        name: str, payload: InferRequest, response: Response, client_key: ClientKey = None
    ) -> InferResponse:
        async with observed(core.metrics, INFER_ROUTE, response) as call:
            texts = request_texts(payload)
            other = await call.timed(peer_call(name, "infer", texts, client_key))
            if other is not None:
                call.answered(other.version)
                return infer_response(
                    name, other.version, payload.id, other.predictions, other.labels
                )
            core.check_texts(texts, "inputs[0].data")
            core.named(name)
            answer = await call.timed(core.answer(texts, client_key))
            predictor = answer.predictor
            call.answered(predictor.info.version)
            return infer_response(
                name, predictor.info.version, payload.id, answer.predictions, predictor.labels
            )

    return api
