"""The serve zone's HTTP contract: paths, headers and the auth scheme.

Serving implements it; the serve client, the load generators and the chaos harness call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from contracts.drop import MODEL_NAME_PATTERN
from contracts.tags import valid_version

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
# Every response's id (contracts/request_ids.py): what feedback names, and what the payload log
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


class Access(Enum):
    """What a route asks of a request before its handler runs."""

    OPEN = "open"  # health, limits, readiness, docs: no key (a balancer's probe has none)
    KEYED = "keyed"  # status, metadata, feedback: a key scoped to the answering model
    LISTING = "listing"  # GET /v1/models: any valid key; it lists what that key may call
    ADMITTED = "admitted"  # predictions: that key, then one of the replica's admission slots


@dataclass(frozen=True)
class Resolved:
    """The one answer to "which model answers this request, and what does it need?": the
    key gate, the scope check, the admission limit, request ids, the payload log and the
    route handler all act on it, so none of them can disagree about the model."""

    access: Access
    model: str | None  # None: a route of no model (health, docs, server metadata)


# FastAPI's own pages; every application serves them under its prefix.
DOCS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
_OWN_OPEN = (HEALTHZ, LIMITS, MOUNTED_READY, OIP_ROOT, LIVE, READY, *DOCS)
_OWN_KEYED = (STATUS, FEEDBACK, MOUNTED_STATUS, MOUNTED_FEEDBACK)
_OWN_ADMITTED = (PREDICT, MOUNTED_PREDICT)
_PER_MODEL = {
    MOUNTED_PREDICT: Access.ADMITTED,
    MOUNTED_STATUS: Access.KEYED,
    MOUNTED_FEEDBACK: Access.KEYED,
    MOUNTED_READY: Access.OPEN,
}


def _name(segment: str) -> str | None:
    return segment if MODEL_NAME_PATTERN.fullmatch(segment) else None


def _version(segment: str) -> bool:
    try:
        return valid_version(segment) == segment and segment.isascii() and segment.isdigit()
    except ValueError:
        return False


def _oip(segments: list[str]) -> Resolved | None:
    """``{name}``, ``{name}/ready``, ``{name}/infer``, each also after ``/versions/{v}``."""
    if not segments or _name(segments[0]) is None:
        return None
    name, rest = segments[0], segments[1:]
    if rest[:1] == ["versions"]:
        if len(rest) < 2 or not _version(rest[1]):
            return None
        rest = rest[2:]
    if rest == []:
        return Resolved(Access.KEYED, name)
    if rest == ["ready"]:
        return Resolved(Access.KEYED, name)
    if rest == ["infer"]:
        return Resolved(Access.ADMITTED, name)
    return None


def resolve(path: str, root_path: str, own_model: str) -> Resolved | None:
    """The route a request reaches in an application, or None: no route answers it (404
    before any key check, slot or body byte).

    ``path`` is the full request path and ``root_path`` the application's route prefix (Serve
    keeps the path whole and sets ``root_path``); ``own_model`` is the model the application
    serves. Only the forms the applications mount resolve: a model's own application
    (prefix ``/v1/models/{name}``) answers its mounted routes and never another model's, so
    ``/v1/models/a/v2/models/b/infer`` is not a way to reach ``b`` with ``a``'s key; empty,
    ``.`` and ``..`` segments (double or trailing slashes) resolve to nothing.
    """
    prefix = root_path.rstrip("/")
    if prefix and not (path == prefix or path.startswith(prefix + "/")):
        return None
    relative = path[len(prefix) :] or "/"
    if relative in DOCS:
        return Resolved(Access.OPEN, None)
    segments = relative.split("/")[1:]
    if any(segment in ("", ".", "..") for segment in segments):
        return None
    if prefix == FAMILY:  # /{member}/predict and /{member}/feedback
        if len(segments) == 2 and _name(segments[0]) is not None:
            access = _PER_MODEL.get("/" + segments[1])
            if access in (Access.ADMITTED, Access.KEYED):
                return Resolved(access, segments[0])
        return None
    if prefix:  # a model's own application: only its mounted routes
        access = _PER_MODEL.get(relative)
        return Resolved(access, own_model) if access is not None else None
    # The default model's application: its own routes, every model's OIP v2 routes (handed to
    # that model's application), and /v1/models/{name}/... where no application of that
    # name exists (the handler answers 404 for another name).
    if relative == MODELS:
        return Resolved(Access.LISTING, None)
    if relative in _OWN_OPEN:
        return Resolved(Access.OPEN, own_model)
    if relative in _OWN_KEYED:
        return Resolved(Access.KEYED, own_model)
    if relative in _OWN_ADMITTED:
        return Resolved(Access.ADMITTED, own_model)
    if relative.startswith(f"{OIP_MODELS}/"):
        return _oip(segments[2:])
    if relative.startswith(f"{MODELS}/") and len(segments) == 4:
        name, access = _name(segments[2]), _PER_MODEL.get("/" + segments[3])
        if name is not None and access is not None:
            return Resolved(access, name)
    return None


def needs_api_key(path: str, root_path: str = "") -> bool:
    """Whether a request to ``path`` must carry a key (an unknown path needs none: it is
    answered 404)."""
    resolved = resolve(path, root_path, "")
    return resolved is not None and resolved.access is not Access.OPEN
