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
import time
from typing import Any

from fastapi import FastAPI
from ray import serve

from contracts import env
from serving.app import configure_guards, registry_source, replica_cache
from serving.config import FamilyConfig
from serving.family_core import FamilyAnswer, FamilyMembers, LoadedMember, NotServable
from serving.http.family_api import build_family_api
from serving.http.middleware import Guards
from serving.lifecycle import short

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

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.config = FamilyConfig.model_validate(user_config or {})

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)  # type: ignore[untyped-decorator]
    async def member(self, model: str) -> LoadedMember:
        """Called by Serve only for a member this replica does not hold (a cold load)."""
        assert self.config is not None
        self.loads += 1
        started = time.perf_counter()
        loaded = await asyncio.wait_for(
            asyncio.to_thread(self.members.load, model, self.config),
            timeout=self.config.load_timeout_s,
        )
        log.info("family: loaded %s in %.0f ms", model, (time.perf_counter() - started) * 1000)
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
        load_ms = (time.perf_counter() - started) * 1000 if self.loads != loads else 0.0
        predictor = loaded.predictor
        predictions = await asyncio.to_thread(predictor.predict, texts)
        info = predictor.info
        return FamilyAnswer(
            200,
            version=info.version,
            run_id=info.run_id,
            precision=info.precision,
            predictions=predictions,
            load_ms=load_ms,
        )


@serve.deployment
@serve.ingress()
class FamilyIngress:
    def __init__(self, models: Any) -> None:
        from serving.metrics import RayMetrics
        from serving.ray_binds import bind_replica_grpc_to_node_address

        bind_replica_grpc_to_node_address()
        # No model of its own: a client key's scope is checked against the member the path
        # names (contracts.serve_api.named_model).
        self.guards = Guards(metrics=RayMetrics())
        self.config: FamilyConfig | None = None
        self.models = models

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_family_api(lambda: self.config, self.guards, self._hand_over)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = FamilyConfig.model_validate(user_config or {})
        configure_guards(self.guards, config.limits, config.api_key_file_env, "")
        self.config = config

    async def _hand_over(self, model: str, texts: list[str]) -> FamilyAnswer:
        try:
            handle = self.models.options(multiplexed_model_id=model)
            answer: FamilyAnswer = await handle.predict.remote(texts)
        except Exception as err:  # the shared replicas gone or restarting: retry later
            log.warning("family: %s unreachable: %s", model, short(err))
            return FamilyAnswer(
                503, f"model {model!r} is not reachable right now", {"Retry-After": "1"}
            )
        return answer


app = FamilyIngress.bind(FamilyModels.bind())  # type: ignore[attr-defined]
