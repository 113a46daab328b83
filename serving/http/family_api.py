"""A model family's ingress: ``POST /v1/family/{model}/predict`` and ``.../feedback`` through
the same guards as every model's own application (key and scopes, admission, body and text
limits), with the same request ids and payload logging.

The member is loaded and answered on the family's shared replicas (serving/family.py); this
app only checks the request, hands it over, and logs the answer off the request path. Ray-free:
unit tests pass a fake hand-over.
(No ``from __future__ import annotations``: FastAPI reads the route signatures' types.)
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, FastAPI, Response

from contracts.request_ids import RequestIds
from contracts.serve_api import LOAD_MS_HEADER, MOUNTED_FEEDBACK, MOUNTED_PREDICT
from serving.config import FamilyConfig
from serving.core import check_texts
from serving.family_core import FamilyAnswer
from serving.feedback import FeedbackRate, check_request, send_feedback
from serving.http import errors, request_id
from serving.http.base_app import serving_app
from serving.http.middleware import Guards
from serving.http.params import ClientKey
from serving.http.telemetry import FAMILY_FEEDBACK_ROUTE, FAMILY_ROUTE, observed
from serving.payload_log import PayloadLog
from serving.schemas import (
    FeedbackAccepted,
    FeedbackRequest,
    ModelRef,
    PredictionOut,
    PredictRequest,
    PredictResponse,
)

# (member, texts) -> the shared replica's answer.
HandOver = Callable[[str, list[str]], Awaitable[FamilyAnswer]]


@dataclass
class FamilyDrop:
    """The ids a family issues and verifies, the payload log it writes, and how it learns a
    member's labels (to check a feedback's label)."""

    ids: RequestIds
    log: PayloadLog
    labels: Callable[[str], Awaitable[list[str]]]


def build_family_api(
    config: Callable[[], FamilyConfig | None],
    guards: Guards,
    hand_over: HandOver,
    drop: FamilyDrop,
) -> FastAPI:
    # Every response names its request, signed for the member the path names.
    api = serving_app(
        "Bulkhead model family",
        "Many models on shared replicas, each loaded on first use. Send "
        "`Authorization: Bearer <API key>`.",
        guards,
        drop.ids,
        lambda: "family",
    )
    authenticated = [Depends(guards.api_key.dependency(lambda: guards.model))]
    rate = FeedbackRate()

    def member_of(model: str) -> FamilyConfig:
        family = config()
        if family is None:
            raise errors.NoModelYet("the family has no configuration yet")
        if model not in family.members:
            raise errors.UnknownModel(
                f"model {model!r} is not in this family ({', '.join(family.members)})"
            )
        return family

    @api.post(
        "/{model}" + MOUNTED_PREDICT, response_model=PredictResponse, dependencies=authenticated
    )
    async def predict(model: str, payload: PredictRequest, response: Response) -> PredictResponse:
        async with observed(guards.metrics, FAMILY_ROUTE, response) as call:
            family = member_of(model)
            check_texts(payload.texts, family.limits, "texts")
            answer = await call.timed(hand_over(model, payload.texts))
            if answer.status != 200:
                raise errors.PeerRefused(answer.detail, answer.status, answer.headers)
            call.answered(answer.version)
            response.headers[LOAD_MS_HEADER] = f"{answer.load_ms:.1f}"
            issued = request_id.current()
            if issued is not None:
                drop.log.predictions(
                    model, answer.version, issued, payload.texts, answer.predictions, call.infer_ms
                )
            return PredictResponse(
                request_id=issued,
                predictions=[
                    PredictionOut(label=p.label, score=p.score, scores=p.scores)
                    for p in answer.predictions
                ],
                model=ModelRef(
                    name=model,
                    version=answer.version,
                    run_id=answer.run_id,
                    precision=answer.precision,
                    snapshot_digest=answer.snapshot_digest,
                ),
            )

    @api.post(
        "/{model}" + MOUNTED_FEEDBACK,
        status_code=202,
        response_model=FeedbackAccepted,
        dependencies=authenticated,
    )
    async def feedback(
        model: str, body: FeedbackRequest, response: Response, client_key: ClientKey = None
    ) -> FeedbackAccepted:
        """The true label of a member's answer (the id its predict response named); 202 once
        the drop keeper has it on disk."""
        async with observed(guards.metrics, FAMILY_FEEDBACK_ROUTE, response) as call:
            family = member_of(model)
            check_request(body, model, drop.ids, family.payload_log, family.limits)
            rate.take(client_key, family.payload_log.feedback_per_key_per_s)
            labels = await drop.labels(model)
            accepted = await asyncio.to_thread(send_feedback, body, model, labels, drop.log)
            call.status = 202
            return accepted

    return api
