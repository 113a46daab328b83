"""One user class for the side-by-side benchmark: the same request to every stack.

``BULKHEAD_BENCH_TARGET`` picks the wire format: ``bulkhead`` (``/v1/predict`` with the API key),
``fastapi`` (the hand-written server's ``/predict``) or ``mlflow`` (``mlflow models serve``'s
``/invocations``). Each request carries one text from the test split.
"""

from __future__ import annotations

import os
import random
from typing import Any

from locust import FastHttpUser, constant, events, task

from contracts import env
from loadtests import recorder
from loadtests.common import TEXTS, ProfileShape, auth_headers, verified_ssl_context

__all__ = ["BenchUser", "ProfileShape"]

TARGET = os.environ.get(env.BENCH_TARGET, "bulkhead")
ROUTES = {"bulkhead": "/v1/predict", "fastapi": "/predict", "mlflow": "/invocations"}
if TARGET not in ROUTES:
    raise RuntimeError(f"BULKHEAD_BENCH_TARGET must be one of {sorted(ROUTES)}, not {TARGET!r}")


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
        text = random.choice(TEXTS)
        if TARGET == "mlflow":
            self.client.post(ROUTES[TARGET], json={"inputs": [text]}, name=TARGET)
        elif TARGET == "fastapi":
            self.client.post(ROUTES[TARGET], json={"texts": [text]}, name=TARGET)
        else:
            self.client.post(ROUTES[TARGET], json={"texts": [text]}, headers=HEADERS, name=TARGET)
