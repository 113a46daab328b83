"""A model family's ingress: ``POST /v1/family/{model}/predict`` through the same guards as
every model's own application (key and scopes, admission, body and text limits).

The member is loaded and answered on the family's shared replicas (serving/family.py); this
app only checks the request and hands it over. Ray-free: unit tests pass a fake hand-over.
(No ``from __future__ import annotations``: FastAPI reads the route signatures' types.)
"""

from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Response

from contracts.serve_api import LOAD_MS_HEADER, MOUNTED_PREDICT
from serving.config import FamilyConfig
from serving.core import check_texts
from serving.family_core import FamilyAnswer
from serving.http import errors
from serving.http.middleware import AdmissionLimit, ApiKeyGate, BodyLimit, Guards
from serving.http.telemetry import FAMILY_ROUTE, observed
from serving.schemas import ModelRef, PredictionOut, PredictRequest, PredictResponse

# (member, texts) -> the shared replica's answer.
HandOver = Callable[[str, list[str]], Awaitable[FamilyAnswer]]


def build_family_api(
    config: Callable[[], FamilyConfig | None], guards: Guards, hand_over: HandOver
) -> FastAPI:
    api = FastAPI(
        title="Bulkhead model family",
        description="Many models on shared replicas, each loaded on first use. Send "
        "`Authorization: Bearer <API key>`.",
        version="1",
    )
    api.add_middleware(BodyLimit, guards=guards)
    api.add_middleware(AdmissionLimit, guards=guards)
    api.add_middleware(ApiKeyGate, guards=guards)
    api.add_exception_handler(errors.ServingError, errors.handle)
    authenticated = [Depends(guards.api_key.dependency(lambda: guards.model))]

    @api.post(
        "/{model}" + MOUNTED_PREDICT, response_model=PredictResponse, dependencies=authenticated
    )
    async def predict(model: str, payload: PredictRequest, response: Response) -> PredictResponse:
        async with observed(guards.metrics, FAMILY_ROUTE, response) as call:
            family = config()
            if family is None:
                raise errors.NoModelYet("the family has no configuration yet")
            if model not in family.members:
                raise errors.UnknownModel(
                    f"model {model!r} is not in this family ({', '.join(family.members)})"
                )
            check_texts(payload.texts, family.limits, "texts")
            answer = await call.timed(hand_over(model, payload.texts))
            if answer.status != 200:
                raise errors.PeerRefused(answer.detail, answer.status, answer.headers)
            call.answered(answer.version)
            response.headers[LOAD_MS_HEADER] = f"{answer.load_ms:.1f}"
            return PredictResponse(
                predictions=[
                    PredictionOut(label=p.label, score=p.score, scores=p.scores)
                    for p in answer.predictions
                ],
                model=ModelRef(
                    name=model,
                    version=answer.version,
                    run_id=answer.run_id,
                    precision=answer.precision,
                ),
            )

    return api
