"""One user class for the side-by-side benchmark: the same request to every stack.

``BULKHEAD_BENCH_TARGET`` picks the stack; its route and body, each in that stack's own idiom,
come from ``loadtests/bench/wire.py``. Each request carries one text from the test split.
"""

from __future__ import annotations

import os
import random
from typing import Any

from locust import FastHttpUser, constant, events, task

from contracts import env
from loadtests import recorder
from loadtests.bench import wire
from loadtests.common import MODEL_NAME, TEXTS, ProfileShape, auth_headers, verified_ssl_context

__all__ = ["BenchUser", "ProfileShape"]


TARGET = os.environ.get(env.BENCH_TARGET, "bulkhead")
if TARGET not in wire.TARGETS:
    raise RuntimeError(
        f"BULKHEAD_BENCH_TARGET must be one of {sorted(wire.TARGETS)}, not {TARGET!r}"
    )
ROUTE, BODY = wire.request(TARGET, MODEL_NAME)
if TARGET == "bulkhead":  # another model than the default is answered at its own route
    ROUTE = os.environ.get(env.LOADTEST_PREDICT_PATH, ROUTE)


def _record_requests(environment: Any, **_: Any) -> None:
    recorder.install(environment)


events.init.add_listener(_record_requests)  # type: ignore[no-untyped-call]


HEADERS = auth_headers() if TARGET == "bulkhead" else {}
if os.environ.get(env.BENCH_NEW_CONNECTION) == "1":
    # The server answers `Connection: close` too, and the client opens a new connection for
    # the next request: what a client without a session pays.
    HEADERS = {**HEADERS, "Connection": "close"}


class BenchUser(FastHttpUser):
    insecure = False
    ssl_context_factory = staticmethod(verified_ssl_context)
    wait_time = constant(0)

    @task
    def one_text(self) -> None:
        self.client.post(ROUTE, json=BODY(random.choice(TEXTS)), headers=HEADERS, name=TARGET)
