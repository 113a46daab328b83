"""Feedback about an answered request: checked here, then sent to the one-way drop.

One rule set for every route that takes feedback (a model's own application and a model
family's ingress): the id must be one this zone issued for that model (404), not too old
(410), the index within the request limit and the label one the model has (422); a drop that
cannot take the record is the client's 503 (retry), never a silent loss; a 202 means the drop
keeper has the record on disk. Each client key has a feedback rate (429 beyond).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from contracts.drop import FeedbackRecord
from contracts.request_ids import RequestIds, RequestIdTooOld, UnknownRequestId
from serving.config import LimitsConfig, PayloadLogConfig
from serving.errors import (
    FeedbackDropFull,
    FeedbackUnavailable,
    InvalidInput,
    RequestTooOld,
    TooManyFeedback,
    UnknownRequest,
)
from serving.payload_log import DropFull, DropUnavailable, PayloadLog
from serving.schemas import FeedbackAccepted, FeedbackRequest


def check_request(
    body: FeedbackRequest,
    model: str,
    ids: RequestIds,
    logging: PayloadLogConfig,
    limits: LimitsConfig,
) -> None:
    """The id and index, before anything about the model is looked up."""
    if not ids.shared:
        raise FeedbackUnavailable(
            "feedback is not set up on this replica: no shared request-id key "
            "(BULKHEAD_REQUEST_ID_KEY_FILE)"
        )
    try:
        ids.verify(body.request_id, model, logging.feedback_max_age_s)
    except RequestIdTooOld as err:
        raise RequestTooOld(str(err)) from err
    except UnknownRequestId as err:
        raise UnknownRequest(str(err)) from err
    if body.index >= limits.max_texts:
        raise InvalidInput(f"index {body.index}: a request holds at most {limits.max_texts} texts")


class FeedbackRate:
    """A token bucket per client key: each may send ``per_s`` feedback records a second to
    this replica, in bursts of twice that (at least one). The platform key (``None``: the
    operator's own tools, e.g. the feedback loop sending a labelled batch) is not limited."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000):
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str | None, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str | None, per_s: float) -> None:
        if key is None:
            return
        now, burst = self._clock(), max(1.0, 2 * per_s)
        tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * per_s)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise TooManyFeedback(f"feedback beyond {per_s:g} records/s for this API key; retry")
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            self._buckets.clear()  # bounded memory; a reset only ever lets keys through
        self._buckets[key] = (tokens - 1, now)


def send_feedback(
    body: FeedbackRequest, model: str, labels: Iterable[str], drop: PayloadLog
) -> FeedbackAccepted:
    """A checked request's label against the model's, then the record to the drop."""
    known = set(labels)
    if body.label not in known:
        raise InvalidInput(
            f"label {body.label[:100]!r} is not one of {model!r}'s labels {sorted(known)}"
        )
    record = FeedbackRecord(
        request_id=body.request_id,
        index=body.index,
        time=time.time(),
        model=model,
        label=body.label,
        note=body.note,
    )
    try:
        drop.feedback(record)
    except DropFull as err:
        raise FeedbackDropFull(f"feedback not kept, try again later: {err}") from err
    except DropUnavailable as err:
        raise FeedbackUnavailable(f"feedback not kept, try again: {err}") from err
    return FeedbackAccepted(
        request_id=body.request_id, index=body.index, model=model, label=body.label
    )
