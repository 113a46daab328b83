"""The v1 API: ``POST /v1/predict``, ``GET /v1/status``, ``/v1/limits`` and ``/healthz``.

(No ``from __future__ import annotations``: FastAPI reads the route signatures' types.)
"""

from typing import Any

from fastapi import APIRouter, Response

from contracts.serve_api import HEALTHZ, LIMITS, PREDICT, STATUS
from serving.core import ServingCore
from serving.http.telemetry import observed
from serving.schemas import (
    LimitsOut,
    ModelRef,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    ServingStatus,
)


def router(core: ServingCore, authenticated: list[Any]) -> APIRouter:
    api = APIRouter()

    @api.post(PREDICT, response_model=PredictResponse, dependencies=authenticated)
    async def predict(payload: PredictRequest, response: Response) -> PredictResponse:
        async with observed(core.metrics, PREDICT, response) as call:
            core.check_texts(payload.texts, "texts")
            predictor = core.model()
            predictions = await call.timed(core.infer(predictor, payload.texts))
            info = predictor.info
            call.answered(info.version)
            return PredictResponse(
                predictions=[PredictionOut(**p.__dict__) for p in predictions],
                model=ModelRef(
                    name=info.name,
                    version=info.version,
                    run_id=info.run_id,
                    precision=info.precision,
                ),
            )

    @api.get(STATUS, response_model=ServingStatus, dependencies=authenticated)
    async def serving_status(response: Response) -> ServingStatus:
        async with observed(core.metrics, STATUS, response):
            predictor = core.lifecycle.current
            return ServingStatus(
                model=core.config.model_name,
                alias=core.config.alias,
                version=predictor.info.version if predictor else None,
                precision=predictor.info.precision if predictor else None,
                last_error=core.lifecycle.last_error,
                refused=dict(core.lifecycle.refused),
            )

    @api.get(LIMITS, response_model=LimitsOut)
    async def limits(response: Response) -> LimitsOut:
        async with observed(core.metrics, LIMITS, response):
            fields = set(LimitsOut.model_fields)
            return LimitsOut(**core.config.limits.model_dump(include=fields))

    @api.get(HEALTHZ)
    async def healthz(response: Response) -> dict[str, str]:
        async with observed(core.metrics, HEALTHZ, response):
            return {"status": "ok"}

    return api
