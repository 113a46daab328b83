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

# `Authorization: Bearer <key>`; a key shorter than this fails closed (every request refused).
AUTH_SCHEME = "Bearer"
MIN_API_KEY_LENGTH = 16


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"{AUTH_SCHEME} {key}"}


def needs_api_key(path: str) -> bool:
    """Prediction, status and model routes; health, limits and docs stay open."""
    return (path.startswith("/v1/") and path != LIMITS) or path.startswith(OIP_MODELS)
