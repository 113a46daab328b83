"""The v1 API: ``POST /v1/predict``, ``GET /v1/status``, ``/v1/limits`` and ``/healthz``.

(No ``from __future__ import annotations``: FastAPI reads the route signatures' types.)
"""

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from contracts.serve_api import (
    FEEDBACK,
    HEALTHZ,
    LIMITS,
    MODELS,
    MOUNTED_FEEDBACK,
    MOUNTED_PREDICT,
    MOUNTED_READY,
    MOUNTED_STATUS,
    PREDICT,
    STATUS,
)
from serving.core import ServingCore
from serving.http import request_id
from serving.http.params import ClientKey
from serving.http.telemetry import observed
from serving.schemas import (
    FeedbackAccepted,
    FeedbackRequest,
    LimitsOut,
    ModelRef,
    PayloadLogSeen,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    RolloutSeen,
    ServingStatus,
)


def router(core: ServingCore, authenticated: list[Any]) -> APIRouter:
    api = APIRouter()

    async def answer(
        payload: PredictRequest, response: Response, client_key: str | None
    ) -> PredictResponse:
        async with observed(core.metrics, PREDICT, response) as call:
            core.check_texts(payload.texts, "texts")
            answer = await call.timed(core.answer(payload.texts, client_key))
            predictions, info = answer.predictions, answer.predictor.info
            call.answered(info.version)
            issued = request_id.current()
            core.log_answer(answer, payload.texts, issued, call.infer_ms)
            return PredictResponse(
                request_id=issued,
                predictions=[
                    PredictionOut(label=p.label, score=p.score, scores=p.scores)
                    for p in predictions
                ],
                model=ModelRef(
                    name=info.name,
                    version=info.version,
                    run_id=info.run_id,
                    precision=info.precision,
                ),
            )

    def status_now() -> ServingStatus:
        predictor = core.lifecycle.current
        return ServingStatus(
            model=core.config.model_name,
            alias=core.config.alias,
            version=predictor.info.version if predictor else None,
            precision=predictor.info.precision if predictor else None,
            last_error=core.lifecycle.last_error,
            refused=dict(core.lifecycle.refused),
            rollout=rollout_seen(core),
            payload_log=payload_log_seen(core),
        )

    # The default model's application (route prefix `/`) answers /v1/predict and
    # /v1/models/{its name}/...; a model's own application (prefix /v1/models/{name}) gets the
    # same requests as /predict, /status and /ready.
    @api.post(PREDICT, response_model=PredictResponse, dependencies=authenticated)
    @api.post(MOUNTED_PREDICT, response_model=PredictResponse, dependencies=authenticated)
    async def predict(
        payload: PredictRequest, response: Response, client_key: ClientKey = None
    ) -> PredictResponse:
        return await answer(payload, response, client_key)

    @api.post(
        MODELS + "/{name}" + MOUNTED_PREDICT,
        response_model=PredictResponse,
        dependencies=authenticated,
    )
    async def predict_named(
        name: str, payload: PredictRequest, response: Response, client_key: ClientKey = None
    ) -> PredictResponse:
        core.is_served(name)
        return await answer(payload, response, client_key)

    # Feedback: /v1/feedback for the default model's application, /feedback inside a model's
    # own, /v1/models/{name}/feedback where the default application gets it. 202: the drop
    # keeper has the record on disk (serving/feedback.py).
    @api.post(
        FEEDBACK, status_code=202, response_model=FeedbackAccepted, dependencies=authenticated
    )
    @api.post(
        MOUNTED_FEEDBACK,
        status_code=202,
        response_model=FeedbackAccepted,
        dependencies=authenticated,
    )
    async def feedback(
        body: FeedbackRequest, response: Response, client_key: ClientKey = None
    ) -> FeedbackAccepted:
        async with observed(core.metrics, FEEDBACK, response) as call:
            accepted = await core.feedback(body, client_key)
            call.status = 202
            return accepted

    @api.post(
        MODELS + "/{name}" + MOUNTED_FEEDBACK,
        status_code=202,
        response_model=FeedbackAccepted,
        dependencies=authenticated,
    )
    async def feedback_named(
        name: str, body: FeedbackRequest, response: Response, client_key: ClientKey = None
    ) -> FeedbackAccepted:
        async with observed(core.metrics, FEEDBACK, response) as call:
            core.is_served(name)
            accepted = await core.feedback(body, client_key)
            call.status = 202
            return accepted

    @api.get(STATUS, response_model=ServingStatus, dependencies=authenticated)
    @api.get(MOUNTED_STATUS, response_model=ServingStatus, dependencies=authenticated)
    async def serving_status(response: Response) -> ServingStatus:
        async with observed(core.metrics, STATUS, response):
            return status_now()

    @api.get(
        MODELS + "/{name}" + MOUNTED_STATUS,
        response_model=ServingStatus,
        dependencies=authenticated,
    )
    async def serving_status_named(name: str, response: Response) -> ServingStatus:
        async with observed(core.metrics, STATUS, response):
            core.is_served(name)
            return status_now()

    def readiness() -> JSONResponse:
        predictor = core.lifecycle.current
        if predictor is None:
            body = {"ready": False, "reason": "no verified model yet"}
            return JSONResponse(body, status_code=503)
        body = {
            "ready": True,
            "model": core.config.model_name,
            "model_version": predictor.info.version,
        }
        return JSONResponse(body)

    @api.get(MOUNTED_READY)
    async def ready(response: Response) -> JSONResponse:
        """Open (a balancer's probe has no key); says whether, never why."""
        async with observed(core.metrics, MOUNTED_READY, response) as call:
            answer = readiness()
            call.status = answer.status_code
            return answer

    @api.get(MODELS + "/{name}" + MOUNTED_READY)
    async def ready_named(name: str, response: Response) -> JSONResponse:
        async with observed(core.metrics, MOUNTED_READY, response) as call:
            core.is_served(name)
            answer = readiness()
            call.status = answer.status_code
            return answer

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


def payload_log_seen(core: ServingCore) -> PayloadLogSeen:
    log = core.payload_log
    return PayloadLogSeen(
        enabled=log.config.enabled,
        sample_rate=log.config.sample_rate,
        inputs=log.config.inputs,
        pending=log.pending,
        records=dict(log.counts.by_outcome),
        drop_error=log.sender.last_error,
    )
