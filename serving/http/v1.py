"""The v1 API: ``POST /v1/predict``, ``GET /v1/status``, ``/v1/limits`` and ``/healthz``.

(No ``from __future__ import annotations``: FastAPI reads the route signatures' types.)
"""

from typing import Any

from fastapi import APIRouter, Response

from contracts.serve_api import HEALTHZ, LIMITS, PREDICT, STATUS
from serving.core import ServingCore
from serving.http.params import ClientKey
from serving.http.telemetry import observed
from serving.schemas import (
    LimitsOut,
    ModelRef,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    RolloutSeen,
    ServingStatus,
)


def router(core: ServingCore, authenticated: list[Any]) -> APIRouter:
    api = APIRouter()

    @api.post(PREDICT, response_model=PredictResponse, dependencies=authenticated)
    async def predict(
        payload: PredictRequest, response: Response, client_key: ClientKey = None
    ) -> PredictResponse:
        async with observed(core.metrics, PREDICT, response) as call:
            core.check_texts(payload.texts, "texts")
            answer = await call.timed(core.answer(payload.texts, client_key))
            predictions, info = answer.predictions, answer.predictor.info
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
                rollout=rollout_seen(core),
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


def rollout_seen(core: ServingCore) -> RolloutSeen | None:
    state, held = core.lifecycle.rollout, core.lifecycle.candidate
    if state is None:
        return None
    return RolloutSeen(
        id=state.id,
        phase=state.phase,
        candidate=state.candidate,
        weight=state.weight,
        candidate_loaded=held is not None and held.info.version == state.candidate,
        shadow_pending=core.traffic.shadow.pending,
    )
