"""One user class for the side-by-side benchmark: the same request to every stack.

``BULKHEAD_BENCH_TARGET`` picks the wire format, each stack's own idiom (see ``REQUESTS``):
Bulkhead's ``/v1/predict`` with the API key, a ``{"texts": [...]}`` body for the hand-written
FastAPI server, BentoML and stock Ray Serve, MLflow's ``/invocations``, KServe's v1
``:predict`` and the Open Inference Protocol v2 ``/infer`` (KServe, MLServer). Each request
carries one text from the test split.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from locust import FastHttpUser, constant, events, task

from contracts import env
from loadtests import recorder
from loadtests.common import MODEL_NAME, TEXTS, ProfileShape, auth_headers, verified_ssl_context

__all__ = ["BenchUser", "ProfileShape"]


def _texts(text: str) -> dict[str, Any]:
    return {"texts": [text]}


def _oip(text: str) -> dict[str, Any]:
    return {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]}


# target -> (route, body for one text)
REQUESTS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "bulkhead": ("/v1/predict", _texts),
    "fastapi": ("/predict", _texts),
    "bentoml": ("/predict", _texts),
    "rayserve": ("/predict", _texts),
    "mlflow": ("/invocations", lambda text: {"inputs": [text]}),
    "kserve-v1": (f"/v1/models/{MODEL_NAME}:predict", lambda text: {"instances": [text]}),
    "kserve-v2": (f"/v2/models/{MODEL_NAME}/infer", _oip),
    "mlserver": (f"/v2/models/{MODEL_NAME}/infer", _oip),
}
TARGET = os.environ.get(env.BENCH_TARGET, "bulkhead")
if TARGET not in REQUESTS:
    raise RuntimeError(f"BULKHEAD_BENCH_TARGET must be one of {sorted(REQUESTS)}, not {TARGET!r}")
ROUTE, BODY = REQUESTS[TARGET]


def _record_requests(environment: Any, **_: Any) -> None:
    recorder.install(environment)


events.init.add_listener(_record_requests)  # type: ignore[no-untyped-call]


HEADERS = auth_headers() if TARGET == "bulkhead" else {}


class BenchUser(FastHttpUser):
    insecure = False
    ssl_context_factory = staticmethod(verified_ssl_context)
    wait_time = constant(0)

    @task
    def one_text(self) -> None:
        self.client.post(ROUTE, json=BODY(random.choice(TEXTS)), headers=HEADERS, name=TARGET)
