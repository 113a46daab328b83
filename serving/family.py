"""A model family: many registered models served from shared replicas (``serving.family:app``
in serve_config.yaml), with Ray Serve's model multiplexing.

Two deployments, because Ray 2.60 does not multiplex on an application's ingress deployment
behind the HAProxy ingress Bulkhead uses: ``FamilyIngress`` (the guards and the route,
serving/http/family_api.py) hands each request to ``FamilyModels`` through a handle with the
member as the multiplexed model id, so Serve routes it to a replica that has that member
loaded when there is one. Each ``FamilyModels`` replica keeps at most
``BULKHEAD_FAMILY_MODELS_PER_REPLICA`` members (default 2), evicting the least recently used.
The loading rules are serving/family_core.py's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import weakref
from functools import partial
from typing import Any

from fastapi import FastAPI
from ray import serve

from contracts import env
from contracts.request_ids import RequestIds
from serving.catalogue import listed_members
from serving.config import FamilyConfig
from serving.errors import PeerRefused
from serving.family_core import FamilyAnswer, FamilyMembers, LoadedMember, NotServable
from serving.http.family_api import FamilyDrop, build_family_api
from serving.http.middleware import Guards
from serving.lifecycle import next_poll_delay, short
from serving.loads import Loads
from serving.payload_log import PayloadLog
from serving.replica import configure_guards, registry_source, replica_cache

log = logging.getLogger("ray.serve")

# Members one shared replica holds at once (Serve's decorator takes a number, not a setting:
# set it for the application with runtime_env.env_vars in serve_config.yaml).
MODELS_PER_REPLICA = int(os.environ.get(env.FAMILY_MODELS_PER_REPLICA, "2"))


@serve.deployment
class FamilyModels:
    def __init__(self) -> None:
        from serving.ray_binds import bind_replica_grpc_to_node_address

        # Like every replica: its gRPC server on the node's address, never on every interface
        # (`bulkhead check-isolation` flagged this replica listening on `::` without it).
        bind_replica_grpc_to_node_address()
        self.config: FamilyConfig | None = None
        self.members = FamilyMembers(registry_source, replica_cache())
        self.loads = 0  # cold loads so far: a request that saw it change waited for one
        # The members this replica holds (Serve's LRU owns them: gone when it evicts one).
        self.held: weakref.WeakValueDictionary[str, LoadedMember] = weakref.WeakValueDictionary()
        # Cold loads and refreshes on threads of their own, not predict's (serving/loads.py).
        self.loaders = Loads()
        self._poller: asyncio.Task[None] | None = None

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.config = FamilyConfig.model_validate(user_config or {})
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._follow_forever())

    async def _follow_forever(self) -> None:
        """Every member held follows its alias, as a dedicated replica follows its model's:
        a promotion reaches the family's clients within a poll, not at the next cold load."""
        rng = random.Random()
        while True:
            config = self.config
            assert config is not None
            await asyncio.sleep(next_poll_delay(config.poll_interval_s, rng))
            for model, member in list(self.held.items()):
                try:
                    version = await self.loaders.run(
                        model,
                        config.load_timeout_s,
                        partial(self.members.follow, model, member, config),
                    )
                except Exception as err:  # the old version keeps serving; tried next poll
                    log.warning("family: %s not refreshed: %s", model, short(err))
                    continue
                if version is not None:
                    log.info("family: %s now serves v%s", model, version)

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)  # type: ignore[untyped-decorator]
    async def member(self, model: str) -> LoadedMember:
        """Called by Serve only for a member this replica does not hold (a cold load)."""
        assert self.config is not None
        self.loads += 1
        started = time.perf_counter()
        config = self.config
        loaded = await self.loaders.run(
            model, config.load_timeout_s, lambda: self.members.load(model, config)
        )
        log.info("family: loaded %s in %.0f ms", model, (time.perf_counter() - started) * 1000)
        self.held[model] = loaded
        return loaded

    async def predict(self, texts: list[str]) -> FamilyAnswer:
        model = serve.get_multiplexed_model_id()
        config = self.config
        if config is None or model not in config.members:
            return FamilyAnswer(404, f"model {model!r} is not in this family")
        loads, started = self.loads, time.perf_counter()
        try:
            loaded = await self.member(model)
        except NotServable as err:
            return FamilyAnswer(503, str(err), {"Retry-After": "5"})
        except Exception as err:  # download, verification or deadline: said, never raised
            log.warning("family: %s could not be loaded: %s", model, short(err))
            detail = f"model {model!r} could not be loaded: {short(err)}"
            return FamilyAnswer(503, detail, {"Retry-After": "5"})
        if not self.members.trusted(loaded, config):
            detail = f"model {model!r}: its signing key is no longer trusted; not served"
            return FamilyAnswer(503, detail, {"Retry-After": "5"})
        load_ms = (time.perf_counter() - started) * 1000 if self.loads != loads else 0.0
        predictor = loaded.predictor
        # No texts: a question for the member's version and labels (feedback checks them).
        predictions = await asyncio.to_thread(predictor.predict, texts) if texts else []
        info = predictor.info
        return FamilyAnswer(
            200,
            version=info.version,
            run_id=info.run_id,
            snapshot_digest=info.snapshot_digest,
            precision=info.precision,
            predictions=predictions,
            labels=list(predictor.labels),
            load_ms=load_ms,
        )


@serve.deployment
@serve.ingress()
class FamilyIngress:
    def __init__(self, models: Any) -> None:
        from serving.metrics import RayMetrics
        from serving.ray_binds import bind_replica_grpc_to_node_address

        bind_replica_grpc_to_node_address()
        metrics = RayMetrics()
        # No model of its own: a client key's scope is checked against the member the path
        # names (contracts.serve_api.resolve), and request ids are issued for it.
        self.guards = Guards(metrics=metrics)
        self.config: FamilyConfig | None = None
        self.models = models
        # Like a model's own application: the zone's drop keeper socket and request-id key.
        self.drop = FamilyDrop(
            RequestIds.from_environment(), PayloadLog.from_environment(metrics), self._labels
        )
        # Each member's labels, from its answers (a feedback names one of them); at most one
        # entry per configured member.
        self.labels: dict[str, list[str]] = {}

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_family_api(lambda: self.config, self.guards, self._hand_over, self.drop)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = FamilyConfig.model_validate(user_config or {})
        configure_guards(self.guards, config.limits, config.api_key_file_env, "")
        self.drop.log.configure(config.payload_log)
        self.drop.log.start()
        self.config = config
        self.labels = {m: labels for m, labels in self.labels.items() if m in config.members}

    async def describe(self) -> list[dict[str, Any]]:
        """This family's members as GET /v1/models lists them (asked by the default model's
        application)."""
        if self.config is None:
            return []
        family = serve.get_replica_context().app_name
        return [m.model_dump() for m in listed_members(family, self.config.members)]

    async def _labels(self, model: str) -> list[str]:
        """The member's labels: remembered from its answers, else asked of a shared replica
        (which loads the member if no replica holds it)."""
        known = self.labels.get(model)
        if known is not None:
            return known
        answer = await self._hand_over(model, [])
        if answer.status != 200:
            raise PeerRefused(answer.detail, answer.status, answer.headers)
        return answer.labels

    async def _hand_over(self, model: str, texts: list[str]) -> FamilyAnswer:
        try:
            handle = self.models.options(multiplexed_model_id=model)
            answer: FamilyAnswer = await handle.predict.remote(texts)
        except Exception as err:  # the shared replicas gone or restarting: retry later
            log.warning("family: %s unreachable: %s", model, short(err))
            return FamilyAnswer(
                503, f"model {model!r} is not reachable right now", {"Retry-After": "1"}
            )
        if answer.status == 200 and self.config is not None and model in self.config.members:
            self.labels[model] = answer.labels
        return answer

    def __del__(self) -> None:
        # Serve calls this on graceful shutdown: what the payload log holds is sent.
        drop = getattr(self, "drop", None)
        if drop is not None:
            drop.log.close()


app = FamilyIngress.bind(FamilyModels.bind())  # type: ignore[attr-defined]
