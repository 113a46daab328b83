"""How each benchmarked stack is called: its route and the body of a one-text request.

Each in the stack's own idiom: Bulkhead's ``/v1/predict``; a ``{"texts": [...]}`` body for the
hand-written FastAPI server, BentoML and stock Ray Serve; MLflow's ``/invocations``; KServe's
v1 ``:predict``; the Open Inference Protocol v2 ``/infer`` (KServe, MLServer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Body = Callable[[str], dict[str, Any]]


def _texts(text: str) -> dict[str, Any]:
    return {"texts": [text]}


def _oip(text: str) -> dict[str, Any]:
    return {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]}


def _mlflow(text: str) -> dict[str, Any]:
    return {"inputs": [text]}


def _kserve_v1(text: str) -> dict[str, Any]:
    return {"instances": [text]}


# target -> (route with {model} for the model's name, body for one text)
TARGETS: dict[str, tuple[str, Body]] = {
    "bulkhead": ("/v1/predict", _texts),
    "null": ("/predict", _texts),
    "fastapi": ("/predict", _texts),
    "bentoml": ("/predict", _texts),
    "rayserve": ("/predict", _texts),
    "mlflow": ("/invocations", _mlflow),
    "kserve-v1": ("/v1/models/{model}:predict", _kserve_v1),
    "kserve-v2": ("/v2/models/{model}/infer", _oip),
    "mlserver": ("/v2/models/{model}/infer", _oip),
}


def request(target: str, model: str) -> tuple[str, Body]:
    route, body = TARGETS[target]
    return route.format(model=model), body
