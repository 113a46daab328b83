"""The v1 API: ``POST /v1/predict`` and ``/v1/feedback``, ``GET /v1/status``, ``/v1/models``,
``/v1/limits`` and ``/healthz``, and each model's own routes under ``/v1/models/{name}``.

(No ``from __future__ import annotations``: FastAPI reads the route signatures' types.)
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
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
from serving.catalogue import visible
from serving.core import ServingCore
from serving.http import request_id
from serving.http.auth import client_scope
from serving.http.params import ClientKey
from serving.http.telemetry import observed
from serving.schemas import (
    FeedbackAccepted,
    FeedbackRequest,
    LimitsOut,
    ModelList,
    ModelRef,
    PayloadLogSeen,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    RolloutSeen,
    ServingStatus,
)

# Whether the caller's key may call a model (GET /v1/models lists only those).
CallerScope = Annotated[Callable[[str], bool], Depends(client_scope)]


def router(core: ServingCore, authenticated: list[Any]) -> APIRouter:
    """Each route's handler once, registered from one table: at its own path in the default
    model's application (route prefix ``/``), at its mounted path in a model's own
    application (prefix ``/v1/models/{name}``), and at ``/v1/models/{name}/...`` where the
    default application gets a model's path (only its own name answers: 404 otherwise)."""
    api = APIRouter()

    def this_model(request: Request) -> None:
        name = request.path_params.get("name")
        if name is not None:
            core.is_served(name)

    async def predict(
        request: Request, payload: PredictRequest, response: Response, client_key: ClientKey = None
    ) -> PredictResponse:
        async with observed(core.metrics, PREDICT, response) as call:
            this_model(request)
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
                    snapshot_digest=info.snapshot_digest,
                ),
            )

    async def feedback(
        request: Request, body: FeedbackRequest, response: Response, client_key: ClientKey = None
    ) -> FeedbackAccepted:
        """202: the drop keeper has the record on disk (serving/feedback.py)."""
        async with observed(core.metrics, FEEDBACK, response) as call:
            this_model(request)
            accepted = await core.feedback(body, client_key)
            call.status = 202
            return accepted

    async def serving_status(request: Request, response: Response) -> ServingStatus:
        async with observed(core.metrics, STATUS, response):
            this_model(request)
            predictor = core.lifecycle.current
            return ServingStatus(
                model=core.config.model_name,
                alias=core.config.alias,
                version=predictor.info.version if predictor else None,
                precision=predictor.info.precision if predictor else None,
                last_error=core.lifecycle.last_error,
                refused=dict(core.lifecycle.refused),
                signed_by=predictor.provenance.key_id
                if predictor and predictor.provenance
                else None,
                snapshot_digest=predictor.info.snapshot_digest if predictor else None,
                rollout=rollout_seen(core),
                payload_log=payload_log_seen(core),
            )

    async def ready(request: Request, response: Response) -> JSONResponse:
        """Open (a balancer's probe has no key); says whether, never why."""
        async with observed(core.metrics, MOUNTED_READY, response) as call:
            this_model(request)
            predictor = core.lifecycle.current
            if predictor is None:
                answer = JSONResponse(
                    {"ready": False, "reason": "no verified model yet"}, status_code=503
                )
            else:
                body = {
                    "ready": True,
                    "model": core.config.model_name,
                    "model_version": predictor.info.version,
                }
                answer = JSONResponse(body)
            call.status = answer.status_code
            return answer

    async def models(response: Response, may_call: CallerScope) -> ModelList:
        async with observed(core.metrics, MODELS, response):
            return ModelList(models=visible(await core.catalogue.models(), may_call))

    async def limits(response: Response) -> LimitsOut:
        async with observed(core.metrics, LIMITS, response):
            fields = set(LimitsOut.model_fields)
            return LimitsOut(**core.config.limits.model_dump(include=fields))

    async def healthz(response: Response) -> dict[str, str]:
        async with observed(core.metrics, HEALTHZ, response):
            return {"status": "ok"}

    keyed: dict[str, Any] = {"dependencies": authenticated}
    table: list[Route] = [
        Route("POST", (PREDICT, MOUNTED_PREDICT), predict, PredictResponse, keyed),
        Route("POST", (FEEDBACK, MOUNTED_FEEDBACK), feedback, FeedbackAccepted, keyed, 202),
        Route("GET", (STATUS, MOUNTED_STATUS), serving_status, ServingStatus, keyed),
        Route("GET", (None, MOUNTED_READY), ready, None, {}),
        Route("GET", (MODELS, None), models, ModelList, keyed),
        Route("GET", (LIMITS, None), limits, LimitsOut, {}),
        Route("GET", (HEALTHZ, None), healthz, None, {}),
    ]
    for route in table:
        own, mounted = route.paths
        paths = [p for p in (own, mounted) if p is not None]
        if mounted is not None:
            paths.append(MODELS + "/{name}" + mounted)
        for path in paths:
            api.add_api_route(
                path,
                route.handler,
                methods=[route.method],
                response_model=route.response_model,
                status_code=route.status_code,
                **route.options,
            )
    return api


@dataclass(frozen=True)
class Route:
    """One handler and where it answers: ``paths`` = (its path in the default model's
    application or None, its path inside a model's own application or None; the latter is
    also registered under ``/v1/models/{name}``)."""

    method: str
    paths: tuple[str | None, str | None]
    handler: Callable[..., Awaitable[Any]]
    response_model: Any
    options: dict[str, Any]
    status_code: int = 200


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
