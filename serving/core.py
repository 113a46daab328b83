"""What one replica knows and does, without Ray: its config, its model, its inference pool.

The Serve deployment (``serving/app.py``) owns one ``ServingCore``; the HTTP layer
(``serving/http/``) asks it for the model and hands it texts. Unit tests build one directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.request_ids import RequestIds
from contracts.rollout import MAX_CLIENT_KEY_CHARS
from serving.catalogue import Catalogue, listed_model
from serving.config import LimitsConfig, ServeAppConfig
from serving.errors import InvalidInput, NoModelYet, ServingError, UnknownModel
from serving.feedback import FeedbackRate, check_request, send_feedback
from serving.lifecycle import ModelLifecycle, VersionSource
from serving.metrics import ReplicaMetrics
from serving.payload_log import DropSender, PayloadLog
from serving.peers import PeerAnswer, PeerOp
from serving.pool import InferencePool
from serving.predictor import Prediction, Predictor
from serving.schemas import FeedbackAccepted, FeedbackRequest, ListedModel
from serving.traffic import Answer, TrafficSplit

if TYPE_CHECKING:
    from serving.peers import Endpoint, Peer


def check_texts(texts: list[str], limits: LimitsConfig, field: str) -> None:
    """The documented text limits (422 on /v1, 400 on /v2), naming the field and the limit."""
    if len(texts) > limits.max_texts:
        raise InvalidInput(
            f"{field}: {len(texts)} texts, the limit is {limits.max_texts} per request"
        )
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidInput(f"{field}[{i}] is empty")
        if len(text) > limits.max_chars:
            raise InvalidInput(
                f"{field}[{i}] has {len(text)} characters, the limit is {limits.max_chars}"
            )


# One text through a batcher: (predictor, text) -> its prediction.
Batcher = Callable[[tuple[Predictor, str]], Awaitable[Prediction]]


class ServingCore:
    def __init__(
        self,
        source_factory: Callable[[], VersionSource],
        cache: Path,
        metrics: ReplicaMetrics,
        batcher: Batcher | None = None,
    ) -> None:
        self.config = ServeAppConfig()
        self.metrics = metrics
        self.lifecycle = ModelLifecycle(source_factory, cache, metrics)
        self.pool = InferencePool()
        self.traffic = TrafficSplit(metrics)
        # The one-way drop (payload log, feedback) and the ids feedback names; the Serve
        # deployment replaces both with the zone's (socket and shared key from the env).
        self.payload_log = PayloadLog(DropSender(None), metrics)
        self.request_ids = RequestIds(None)
        self.feedback_rate = FeedbackRate()
        self._batcher = batcher
        # Hands OIP calls for another model to that model's application (serving/peers.py);
        # None: this replica answers for its own model only.
        self.peer: Peer | None = None
        # The platform's models for GET /v1/models (serving/catalogue.py); without Ray, this
        # application's own model only.
        self.catalogue = Catalogue(self._own_listing)

    def configure(self, config: ServeAppConfig) -> None:
        self.config = config
        self.pool.resize(config.inference_workers)
        self.traffic.configure(config.shadow_max_per_s)
        self.payload_log.configure(config.payload_log)

    async def _own_listing(self) -> list[ListedModel]:
        return [self.listing()]

    def listing(self) -> ListedModel:
        """This application's model as GET /v1/models lists it."""
        current = self.lifecycle.current
        return listed_model(self.config.model_name, current.info.version if current else None)

    # ------------------------------------------------------------ what a request needs

    def model(self) -> Predictor:
        predictor = self.lifecycle.current
        if predictor is None:
            # Why (a registry URL, an exception's text) stays on /v1/status for the key
            # holder who asks; a client is told what to do.
            raise NoModelYet("no model loaded yet: this replica is still loading one; retry")
        return predictor

    def is_served(self, name: str) -> None:
        """A route naming a model: this application serves exactly one (404 otherwise)."""
        if name != self.config.model_name:
            raise self._not_here(name)

    def _not_here(self, name: str) -> UnknownModel:
        return UnknownModel(
            f"model {name!r} is not served here (this application serves "
            f"{self.config.model_name!r}; GET /v1/models lists the platform's models)"
        )

    async def answer_peer(
        self,
        op: PeerOp,
        texts: list[str],
        client_key: str | None,
        version: str | None = None,
        request_id: str | None = None,
    ) -> PeerAnswer:
        """A call another application handed over: the same checks, traffic split and
        payload-log policy as this application's own routes; a refusal comes back as its
        status and detail."""
        try:
            if op == "metadata":
                predictor = self.pinned(version)
                return PeerAnswer(200, version=predictor.info.version, labels=predictor.labels)
            self.check_texts(texts, "inputs[0].data")
            started = time.perf_counter()
            answer = await self.answer(texts, client_key, version)
        except ServingError as err:
            return PeerAnswer.refused(err)
        self.log_answer(answer, texts, request_id, (time.perf_counter() - started) * 1000)
        info = answer.predictor.info
        return PeerAnswer(
            200,
            version=info.version,
            labels=answer.predictor.labels,
            predictions=list(answer.predictions),
        )

    def endpoint(self, name: str) -> Endpoint:
        """The one way an OIP route reaches a model: this application's own
        (``answer_peer``), or another model's application through Serve (``peer``); both
        answer a ``PeerAnswer``, so the route has one path. 404 for a model no application
        serves."""
        if name == self.config.model_name:
            return self.answer_peer
        if self.peer is None:
            raise self._not_here(name)
        return partial(self.peer, name)

    def pinned(self, version: str | None) -> Predictor:
        """The champion, which must be ``version`` when a route names one (OIP's
        ``/versions/{v}``): a rollout's candidate is not addressable, it is under trial."""
        predictor = self.model()
        if version is not None and version != predictor.info.version:
            raise UnknownModel(
                f"model {self.config.model_name!r} version {version!r} is not served; "
                f"it serves version {predictor.info.version}"
            )
        return predictor

    def check_texts(self, texts: list[str], field: str) -> None:
        check_texts(texts, self.config.limits, field)

    async def answer(
        self, texts: list[str], client_key: str | None = None, version: str | None = None
    ) -> Answer:
        """The champion's answer, or during a rollout's canary phase possibly the
        candidate's (``Answer.predictor`` names the version); see serving/traffic.py.
        A request that names its version gets exactly that version (the champion)."""
        if client_key is not None and len(client_key) > MAX_CLIENT_KEY_CHARS:
            raise InvalidInput(f"client key longer than {MAX_CLIENT_KEY_CHARS} characters")
        champion = self.pinned(version)
        if version is not None:
            return await self.traffic.pinned(self.infer_measured, champion, texts)
        lifecycle = self.lifecycle
        return await self.traffic.answer(
            self.infer_measured,
            champion,
            lifecycle.candidate,
            lifecycle.rollout,
            texts,
            client_key,
            busy=lambda: self.pool.busy,
        )

    async def infer_measured(
        self, predictor: Predictor, texts: list[str]
    ) -> tuple[list[Prediction], float]:
        if self.config.batching.enabled and self._batcher is not None:
            started = time.perf_counter()
            predictions = await self.infer(predictor, texts)
            return predictions, (time.perf_counter() - started) * 1000
        return await self.pool.run_measured(predictor, texts)

    async def infer(self, predictor: Predictor, texts: list[str]) -> list[Prediction]:
        """Every text of a request goes through ``predictor``, the version the response
        names, even when batching puts it in a batch with another version's requests."""
        if self.config.batching.enabled and self._batcher is not None:
            batcher = self._batcher
            return list(await asyncio.gather(*(batcher((predictor, t)) for t in texts)))
        return await self.pool.run(predictor, texts)

    async def run_batch(self, items: list[tuple[Predictor, str]]) -> list[Prediction]:
        """A batch from the batcher: each version's texts on that version (a swap can land
        between two requests of one batch; nearly always there is one group)."""
        groups: dict[int, tuple[Predictor, list[int]]] = {}
        for index, (predictor, _) in enumerate(items):
            groups.setdefault(id(predictor), (predictor, []))[1].append(index)
        results: list[Prediction | None] = [None] * len(items)
        for predictor, indices in groups.values():
            predictions = await self.pool.run(predictor, [items[i][1] for i in indices])
            for i, prediction in zip(indices, predictions, strict=True):
                results[i] = prediction
        return [r for r in results if r is not None]

    # ------------------------------------------------------------ the drop

    def log_answer(
        self, answer: Answer, texts: list[str], request_id: str | None, model_ms: float
    ) -> None:
        """Buffer the sampled records of an answered request (no I/O on the request path)."""
        if request_id is None:
            return
        info = answer.predictor.info
        self.payload_log.predictions(
            info.name, info.version, request_id, texts, list(answer.predictions), model_ms
        )

    async def feedback(
        self, body: FeedbackRequest, client_key: str | None = None
    ) -> FeedbackAccepted:
        """Check one feedback record and hand it to the drop keeper (serving/feedback.py),
        answering once it is kept (off the event loop); the labels of the champion and of a
        rollout's candidate both count."""
        config = self.config
        check_request(body, config.model_name, self.request_ids, config.payload_log, config.limits)
        self.feedback_rate.take(client_key, config.payload_log.feedback_per_key_per_s)
        labels = set(self.model().labels)
        if self.lifecycle.candidate is not None:
            labels |= set(self.lifecycle.candidate.labels)
        return await asyncio.to_thread(
            send_feedback, body, config.model_name, labels, self.payload_log
        )

    def close(self) -> None:
        self.payload_log.close()
        self.traffic.close()
        self.pool.close()
        self.lifecycle.close()
