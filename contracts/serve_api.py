"""The serve zone's HTTP contract: paths, headers and the auth scheme.

Serving implements it; the serve client, the load generators and the chaos harness call it.
"""

from __future__ import annotations

PREDICT = "/v1/predict"
STATUS = "/v1/status"
LIMITS = "/v1/limits"
HEALTHZ = "/healthz"
LIVE = "/v2/health/live"
READY = "/v2/health/ready"
OIP_MODELS = "/v2/models"


def oip_infer(model: str) -> str:
    return f"{OIP_MODELS}/{model}/infer"


# Every prediction response names the version that produced it in this header too, so load
# generators and proxies can count versions without parsing bodies.
MODEL_VERSION_HEADER = "x-model-version"
SERVER_TIMING_HEADER = "server-timing"
# A client that sends its wall clock (ns since the epoch) in this header gets the replica's
# per-hop split in ``server-timing`` (``hop-*`` entries; see serving/http/hops.py).
SENT_AT_HEADER = "x-bulkhead-sent-ns"
HOPS = (
    "ingress",  # client sent -> the replica's ASGI app entered (Serve's proxy, routing, wrapper)
    "replica-http",  # ASGI entry -> route handler (guards, body read, validation, auth)
    "queue",  # handed to the inference pool -> a pool thread starts it
    "tokenize",
    "infer",  # onnxruntime
    "postprocess",  # softmax, labels
    "thread-return",  # pool thread done -> the event loop resumes the handler
    "handler",  # the rest of the handler (limits, model lookup, response model)
    "serialize",  # handler returned -> response headers sent (FastAPI's JSON encoding)
)

# `Authorization: Bearer <key>`; a key shorter than this fails closed (every request refused).
AUTH_SCHEME = "Bearer"
MIN_API_KEY_LENGTH = 16


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"{AUTH_SCHEME} {key}"}


def needs_api_key(path: str) -> bool:
    """Prediction, status and model routes; health, limits and docs stay open."""
    return (path.startswith("/v1/") and path != LIMITS) or path.startswith(OIP_MODELS)
