"""The serve zone's Ray Serve application: ``serving.app:app`` in serve_config.yaml.

The deployment is a shell: each replica builds its own ``ServingCore`` (config, model
lifecycle, inference pool) and its own FastAPI app around it (``serving/http/``), then
follows the registry alias. Everything that can run without Ray lives outside this file.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from fastapi import FastAPI
from ray import serve

from contracts.request_ids import RequestIds
from serving.catalogue import Catalogue
from serving.config import ServeAppConfig
from serving.core import ServingCore
from serving.http.api import build_api
from serving.http.middleware import Guards
from serving.lifecycle import next_poll_delay
from serving.payload_log import PayloadLog
from serving.peers import PeerAnswer, PeerOp
from serving.predictor import Prediction, Predictor
from serving.replica import configure_guards, registry_source, replica_cache
from serving.schemas import ListedModel

log = logging.getLogger("ray.serve")


# How long a name Serve has no application for is answered 404 without asking again, and how
# many such names a replica remembers.
MISSING_PEER_TTL_S = 10.0
MAX_MISSING_PEERS = 256
# How long GET /v1/models waits for one application to say what it serves.
DESCRIBE_TIMEOUT_S = 2.0


@serve.deployment
@serve.ingress()
class TextClassifier:
    def __init__(self) -> None:
        from serving.metrics import RayMetrics
        from serving.ray_binds import (
            bind_replica_grpc_to_node_address,
            gate_ingress_health_on_model,
        )

        bind_replica_grpc_to_node_address()
        metrics = RayMetrics()
        self.guards = Guards(metrics=metrics)
        self.core = ServingCore(
            registry_source, replica_cache(), metrics, batcher=self._batched_predict
        )
        # The zone's drop keeper socket and shared request-id key (contracts/drop.py).
        self.core.payload_log = PayloadLog.from_environment(metrics)
        self.core.request_ids = RequestIds.from_environment()
        self._poller: asyncio.Task[None] | None = None
        self._peers: dict[str, Any] = {}
        # Names Serve said it has no application for, with when: a client sending made-up
        # model names must not cost a controller call each (bounded, forgotten after a while).
        self._missing: dict[str, float] = {}
        self.core.peer = self._call_peer
        # GET /v1/models reaches the default model's application: it asks every
        # application to describe itself (serving/catalogue.py).
        self.core.catalogue = Catalogue(self._discover)
        # Out of the ingress's rotation while it holds no verified model (the registry was
        # unreachable when it started, or every version was refused): serving/ray_binds.py.
        gate_ingress_health_on_model(lambda: self.core.lifecycle.current is not None)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """This replica's own app: its middleware reads this replica's guards."""
        return build_api(self.core, self.guards)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = ServeAppConfig.model_validate(user_config or {})
        self.core.configure(config)
        configure_guards(self.guards, config.limits, config.api_key_file_env, config.model_name)
        batched = self._batched_predict
        batched.set_max_batch_size(config.batching.max_batch_size)  # type: ignore[attr-defined]
        batched.set_batch_wait_timeout_s(config.batching.batch_wait_timeout_s)  # type: ignore[attr-defined]
        await self.core.lifecycle.refresh(config)
        if self._poller is None:
            # The replica's start (Serve routes nothing to it before this returns): wait a
            # bounded while for a registry that cannot be reached rather than start empty.
            await self.core.lifecycle.hold_until_loaded(config)
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())
            self.core.payload_log.start()

    async def _poll_forever(self) -> None:
        rng = random.Random()
        while True:
            await asyncio.sleep(next_poll_delay(self.core.config.poll_interval_s, rng))
            try:
                await self.core.lifecycle.refresh(self.core.config)
            except Exception:  # the poller must survive anything; the old model keeps serving
                log.exception("model refresh crashed")

    async def answer_peer(
        self,
        op: PeerOp,
        texts: list[str],
        client_key: str | None,
        version: str | None = None,
        request_id: str | None = None,
    ) -> PeerAnswer:
        """Called by another application's replica for this model (serving/peers.py)."""
        return await self.core.answer_peer(op, texts, client_key, version, request_id)

    async def describe(self) -> list[dict[str, Any]]:
        """This application's model as GET /v1/models lists it (asked by the default
        model's application)."""
        return [self.core.listing().model_dump()]

    async def _discover(self) -> list[ListedModel]:
        """Every application Serve runs, each asking its own replica what it serves; one
        that does not answer within ``DESCRIBE_TIMEOUT_S`` (restarting, deleting) is left out
        of this listing and asked again at the next."""
        own = serve.get_replica_context().app_name
        applications = (await asyncio.to_thread(serve.status)).applications
        others = [name for name in applications if name != own]
        described = await asyncio.gather(*(self._describe(name) for name in others))
        return [self.core.listing(), *(m for listed in described for m in listed)]

    async def _describe(self, application: str) -> list[ListedModel]:
        try:
            handle = await self._handle(application)
            rows = await asyncio.wait_for(handle.describe.remote(), DESCRIBE_TIMEOUT_S)
            return [ListedModel.model_validate(row) for row in rows]
        except Exception as err:  # gone, restarting, or an application of another kind
            self._peers.pop(application, None)
            log.warning("application %s did not describe itself: %s", application, err)
            return []

    async def _handle(self, application: str) -> Any:
        """A Serve handle to ``application``'s ingress, kept for the next call (the OIP
        hand-over and the model list share them; a failed call forgets it)."""
        handle = self._peers.get(application)
        if handle is None:
            handle = await asyncio.to_thread(serve.get_app_handle, application)
            self._peers[application] = handle
        return handle

    async def _call_peer(
        self,
        model: str,
        op: PeerOp,
        texts: list[str],
        client_key: str | None,
        version: str | None,
        request_id: str | None,
    ) -> PeerAnswer:
        """Hand an OIP call to the application named after ``model``, through Serve."""
        handle: Any = self._peers.get(model)
        if handle is None:
            not_served = PeerAnswer(404, f"model {model!r} is not served")
            now = time.monotonic()
            if now - self._missing.get(model, float("-inf")) < MISSING_PEER_TTL_S:
                return not_served
            try:
                handle = await self._handle(model)
            except Exception:  # Serve says no such application (RayServeException and kin)
                if len(self._missing) >= MAX_MISSING_PEERS:
                    self._missing.clear()
                self._missing[model] = now
                return not_served
        try:
            answer: PeerAnswer = await handle.answer_peer.remote(
                op, texts, client_key, version, request_id
            )
        except Exception as err:  # the peer's replicas gone or restarting: retry later
            self._peers.pop(model, None)
            log.warning("peer %s unreachable: %s", model, err)
            return PeerAnswer(
                503, f"model {model!r} is not reachable right now", {"Retry-After": "1"}
            )
        return answer

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002)
    async def _batched_predict(self, items: list[tuple[Predictor, str]]) -> list[Prediction]:
        return await self.core.run_batch(items)

    def __del__(self) -> None:
        # Serve calls this on graceful replica shutdown (also after a failed __init__).
        core = getattr(self, "core", None)
        if core is not None:
            core.close()


app = TextClassifier.bind()  # type: ignore[attr-defined]
