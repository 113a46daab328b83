"""Locust user classes for a Bulkhead serve zone.

Headless, through the platform (shape, report, plots)::

    bulkhead loadtest --profile step

Or Locust's own web UI, choosing users by hand::

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000

The API key comes from ``BULKHEAD_SERVE_API_KEY_FILE`` (default ``.bulkhead/secrets/serve-api-key``)
and the texts from ``BULKHEAD_LOADTEST_TEXTS`` or the latest local snapshot's test split.
``BULKHEAD_PROFILE=NAME`` turns on the staged load shape of that profile.

User classes (weights give the mix when several run together):

* ``PredictUser`` (6): ``POST /v1/predict`` with one text, the common case.
* ``BatchPredictUser`` (2): ``POST /v1/predict`` with 2-8 texts.
* ``OipInferUser`` (2): ``POST /v2/models/{name}/infer``, the Open Inference Protocol v2.
"""

from __future__ import annotations

import os
import random
from typing import Any

from locust import FastHttpUser, constant, events, task

from contracts import env
from loadtests import recorder
from loadtests.common import MODEL_NAME, TEXTS, auth_headers, verified_ssl_context

HEADERS = auth_headers()
PREDICT_PATH = os.environ.get(env.LOADTEST_PREDICT_PATH, "/v1/predict")
# OIP v2 routes are the default model's application's; another model's load leaves them out.
OIP = os.environ.get(env.LOADTEST_OIP, "1") == "1"


def _record_requests(environment: Any, **_: Any) -> None:
    recorder.install(environment)


events.init.add_listener(_record_requests)  # type: ignore[no-untyped-call]


class _ServeUser(FastHttpUser):
    abstract = True
    insecure = False
    ssl_context_factory = staticmethod(verified_ssl_context)
    # Closed loop: each user sends its next request as soon as the last one is answered.
    wait_time = constant(0)


class PredictUser(_ServeUser):
    weight = 6

    @task
    def predict_one(self) -> None:
        self.client.post(
            PREDICT_PATH,
            json={"texts": [random.choice(TEXTS)]},
            headers=HEADERS,
            name="predict[1]",
        )


class BatchPredictUser(_ServeUser):
    weight = 2

    @task
    def predict_batch(self) -> None:
        texts = random.choices(TEXTS, k=random.randint(2, 8))
        self.client.post(PREDICT_PATH, json={"texts": texts}, headers=HEADERS, name="predict[2-8]")


class OipInferUser(_ServeUser):
    weight = 2
    abstract = not OIP

    @task
    def infer(self) -> None:
        body = {
            "inputs": [
                {"name": "text", "datatype": "BYTES", "shape": [1], "data": [random.choice(TEXTS)]}
            ]
        }
        self.client.post(
            f"/v2/models/{MODEL_NAME}/infer", json=body, headers=HEADERS, name="v2 infer"
        )


if os.environ.get(env.LOAD_PROFILE):
    # Only with a profile: without one, Locust's web UI and -u/-r choose the load.
    from loadtests.common import ProfileShape  # noqa: F401
