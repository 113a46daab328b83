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
OIP_ROOT = "/v2"  # server metadata; every /v2 route speaks the Open Inference Protocol


# Per-model routes: `/v1/models/{name}/predict|status|ready`. serve_config.yaml gives each
# model's application the route prefix `/v1/models/{name}` (the default model's stays `/`), so
# Serve's proxy sends a model's requests straight to its own replicas; inside an application
# the same routes arrive relative to the prefix (MOUNTED_*).
MODELS = "/v1/models"
MOUNTED_PREDICT = "/predict"
MOUNTED_STATUS = "/status"
MOUNTED_READY = "/ready"
# Feedback (the true label of an earlier prediction): `/v1/feedback` for the default model,
# `/v1/models/{name}/feedback` for any; it lands in the one-way drop (contracts/drop.py).
FEEDBACK = "/v1/feedback"
MOUNTED_FEEDBACK = "/feedback"


# A model family (serving/family.py): many models on shared replicas, each loaded on first use.
# Its application has the route prefix FAMILY; inside it the route arrives as
# /{model}/predict. LOAD_MS_HEADER: the milliseconds this request waited for its model to
# load on the replica that answered (0 when it was loaded already).
FAMILY = "/v1/family"
LOAD_MS_HEADER = "x-bulkhead-load-ms"


def family_route(model: str) -> str:
    """``family_route("tenant-7")`` = ``/v1/family/tenant-7/predict``."""
    return f"{FAMILY}/{model}{MOUNTED_PREDICT}"


def model_route(model: str, mounted: str) -> str:
    """``model_route("spam", MOUNTED_PREDICT)`` = ``/v1/models/spam/predict``."""
    return f"{MODELS}/{model}{mounted}"


def named_model(path: str) -> str | None:
    """The model a path names (`/v1/models/{name}/...`, `/v2/models/{name}...`,
    `/v1/family/{name}/...`), if any: the model a client key must be scoped to (else the
    application's own)."""
    for prefix in (f"{MODELS}/", f"{OIP_MODELS}/", f"{FAMILY}/"):
        if path.startswith(prefix):
            name = path[len(prefix) :].split("/", 1)[0]
            return name or None
    return None


def oip_model(model: str, version: str | None = None) -> str:
    """``/v2/models/{model}``, or ``/v2/models/{model}/versions/{version}``."""
    return f"{OIP_MODELS}/{model}" + (f"/versions/{version}" if version else "")


def oip_infer(model: str, version: str | None = None) -> str:
    return f"{oip_model(model, version)}/infer"


def speaks_oip(path: str) -> bool:
    return path == OIP_ROOT or path.startswith(f"{OIP_ROOT}/")


def error_body(path: str, detail: str) -> dict[str, str]:
    """The error body a route answers with: the Open Inference Protocol's ``{"error": ...}``
    on /v2 (Triton's and KServe's clients read that key), ``{"detail": ...}`` elsewhere."""
    return {"error": detail} if speaks_oip(path) else {"detail": detail}


def error_detail(body: object) -> str | None:
    """The message of an error body of either shape."""
    if isinstance(body, dict):
        for key in ("detail", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return None


# Every prediction response names the version that produced it in this header too, so load
# generators and proxies can count versions without parsing bodies.
MODEL_VERSION_HEADER = "x-model-version"
# Every response's id (serving/request_ids.py): what feedback names, and what the payload log
# records. Not `x-request-id`: Ray Serve's proxy sets that one to its own trace id
# (unsigned, for Serve's logs), over anything a replica answers.
REQUEST_ID_HEADER = "x-bulkhead-request-id"
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


def _open(path: str) -> bool:
    """Limits and readiness (a balancer's probe has no key), per model too."""
    if path in (LIMITS, MOUNTED_READY):
        return True
    if path.startswith(f"{MODELS}/"):
        rest = path[len(MODELS) + 1 :]
        return rest.count("/") == 1 and rest.endswith(MOUNTED_READY)
    return False


def needs_api_key(path: str) -> bool:
    """Prediction, status and model routes; health, limits, readiness and docs stay open.
    ``path`` is the full request path (Serve keeps it whole and sets ``root_path``)."""
    if _open(path):
        return False
    return (
        path.startswith("/v1/")
        or path.startswith(OIP_MODELS)
        or path in (MOUNTED_PREDICT, MOUNTED_STATUS, MOUNTED_FEEDBACK)
    )
