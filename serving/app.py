"""The serve zone's Ray Serve application: ``serving.app:app`` in serve_config.yaml.

(No ``from __future__ import annotations`` here: FastAPI must see the route signatures' real
types through Serve's class-based ingress.)

One deployment with a FastAPI ingress does everything in one hop: authenticate, bound the
body, validate, tokenise and run onnxruntime (off the event loop). Each replica follows the
registry alias and swaps models atomically; a failed load never replaces a working model.
"""

import asyncio
import functools
import hmac
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from ray import serve

from contracts import env
from registry.reader import BundleTooLarge, ResolvedVersion
from serving.config import ServeAppConfig
from serving.predictor import ModelInfo, ModelLoadError, Prediction, Predictor
from serving.schemas import (
    InferOutput,
    InferRequest,
    InferResponse,
    LimitsOut,
    ModelMetadata,
    ModelRef,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    ServingStatus,
    TensorMeta,
)

log = logging.getLogger("ray.serve")

# Download attempts retried at the poll interval before the backoff starts doubling.
_QUICK_RETRIES = 3

# Every prediction response names the version that produced it, also in a header so that load
# generators and proxies can count versions without parsing bodies.
MODEL_VERSION_HEADER = "x-model-version"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyLimit:
    """Pure ASGI middleware: buffer the body up to the limit, answer 413 beyond it, and 408
    when the whole body does not arrive within ``body_timeout_s``.

    Works for chunked bodies too (no Content-Length to trust), and never lets an oversized
    body reach JSON parsing. The deadline covers the whole body, not the gap between bytes, so a
    client sending one byte every few seconds is cut off too.
    """

    # One replica per process: reconfigure() sets the limits for this process's app.
    limit = 65_536
    body_timeout_s = 10.0

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.body_timeout_s):
                complete = await self._read_body(receive, chunks)
        except TimeoutError:
            await self._too_slow(send)
            return
        if complete is None:  # the client went away
            return
        if not complete:
            await self._too_large(send)
            return
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive, chunks: list[bytes]) -> bool | None:
        """True when the body is complete, False when it exceeds the limit, None on
        disconnect."""
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return False
            chunks.append(chunk)
            more = message.get("more_body", False)
        return True

    async def _too_slow(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body not received within {self.body_timeout_s:g} s"},
            status_code=408,
            headers={"connection": "close"},
        )
        await response({"type": "http"}, _no_receive, send)

    async def _too_large(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body exceeds the limit of {self.limit} bytes"}, status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


class AdmissionLimit:
    """Pure ASGI middleware: at most `limit` prediction requests in this replica at once.

    Beyond it the answer is an immediate 503 with Retry-After, before the body is read: under
    overload a client learns in microseconds to back off, and the requests already admitted
    keep a bounded queue (Serve's own queue answered 503 without Retry-After and let admitted
    requests wait 1.5 s at p99 under 96 clients).
    """

    limit = 32
    in_flight = 0
    RETRY_AFTER_S = "1"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith("/v1/predict") or path.startswith("/v2/models/")):
            await self.app(scope, receive, send)
            return
        cls = AdmissionLimit
        if cls.in_flight >= cls.limit:
            response = JSONResponse(
                {"detail": f"overloaded: {cls.limit} requests in flight on this replica; retry"},
                status_code=503,
                headers={"Retry-After": cls.RETRY_AFTER_S},
            )
            await response({"type": "http"}, _no_receive, send)
            return
        cls.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            cls.in_flight -= 1


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


# A key shorter than this (an empty or truncated key file) fails closed: every request is
# refused rather than `Authorization: Bearer ` with an empty token passing.
MIN_API_KEY_LENGTH = 16


def load_api_key(path: str | None) -> bytes | None:
    """The key in ``path``, or None (refuse everything) when it is missing, empty or short."""
    if not path:
        return None
    try:
        key = Path(path).read_text().strip()
    except OSError:
        return None
    return key.encode() if len(key) >= MIN_API_KEY_LENGTH else None


class ApiKey:
    """The replica's API key. One replica per process; reconfigure() sets it."""

    value: bytes | None = None

    @classmethod
    def accepts(cls, header: bytes | str) -> bool:
        raw = header.decode("latin-1") if isinstance(header, bytes) else header
        scheme, _, token = raw.partition(" ")
        return (
            cls.value is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), cls.value)
        )


def needs_api_key(path: str) -> bool:
    """Prediction, status and model routes; health, limits and docs stay open."""
    return (path.startswith("/v1/") and path != "/v1/limits") or path.startswith("/v2/models")


class ApiKeyGate:
    """Pure ASGI middleware, outermost: a request without the right key is answered 401
    before it takes an admission slot or any body byte is read (unauthenticated slow bodies
    once held every slot and locked real callers out)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and needs_api_key(scope.get("path", "")):
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not ApiKey.accepts(header):
                response = JSONResponse(
                    {"detail": "missing or wrong API key"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer", "connection": "close"},
                )
                await response({"type": "http"}, _no_receive, send)
                return
        await self.app(scope, receive, send)


async def require_api_key(request: Request) -> None:
    """The same check for the OpenAPI schema's sake (and as a second lock behind the gate).

    Async on purpose: FastAPI runs a plain ``def`` dependency in a thread pool, one thread
    hop per request (seen in py-spy profiles of the replica).
    """
    if not ApiKey.accepts(request.headers.get("authorization", "")):
        raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})


AUTHENTICATED = [Depends(require_api_key)]

api = FastAPI(
    title="Bulkhead serving",
    description="Sentiment predictions from the registry's champion model. "
    "Send `Authorization: Bearer <API key>` on /v1 and /v2/models routes.",
    version="1",
)
api.add_middleware(BodyLimit)
# An overloaded replica refuses before reading any body...
api.add_middleware(AdmissionLimit)
# ...and, added last so it runs first, nobody without the key gets as far as a slot.
api.add_middleware(ApiKeyGate)


def _server_timing(started: float, infer_ms: float) -> str:
    """W3C Server-Timing: model time vs time in the handler, so clients see where time goes."""
    handler_ms = (time.perf_counter() - started) * 1000
    return f"infer;dur={infer_ms:.2f}, handler;dur={handler_ms:.2f}"


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200] if text else ''}"


# Helpers the deployment calls live above it: Serve serializes the class when the decorator
# runs, and names defined below it would be missing in the replica.
@serve.deployment
@serve.ingress(api)
class SentimentService:
    def __init__(self) -> None:
        from ray.serve import metrics

        from serving.ray_binds import bind_replica_grpc_to_node_address

        bind_replica_grpc_to_node_address()
        self._config = ServeAppConfig()
        self._predictor: Predictor | None = None
        self._reader: Any = None
        self._poller: asyncio.Task[None] | None = None
        self._rejected: dict[str, str] = {}
        self._retry_at: dict[str, tuple[int, float]] = {}
        self._load_lock = asyncio.Lock()
        self._last_error: str | None = None
        # Downloaded bundles: under the zone's cache folder (removed by `bulkhead down`, so a
        # killed replica leaks nothing for long), one folder per replica.
        cache_root = os.environ.get(env.SERVE_CACHE_DIR)
        if cache_root:
            Path(cache_root).mkdir(parents=True, exist_ok=True)
        self._cache = Path(tempfile.mkdtemp(prefix="replica-", dir=cache_root or None))
        self._inference: ThreadPoolExecutor | None = None
        self._inference_workers = 0
        self._running_calls = 0
        self._requests = metrics.Counter(
            "bulkhead_requests",
            "Requests by route and status.",
            tag_keys=("route", "status"),  # type: ignore[arg-type]
        )
        self._latency = metrics.Histogram(
            "bulkhead_request_latency_ms",
            "Request latency in milliseconds.",
            boundaries=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
            tag_keys=("route",),
        )
        self._version_gauge = metrics.Gauge("bulkhead_model_version", "Model version served.")
        self._swaps = metrics.Counter("bulkhead_model_swaps", "Successful model swaps.")
        self._swap_failures = metrics.Counter(
            "bulkhead_model_swap_failures", "Rejected or failed model loads.", tag_keys=("reason",)
        )

    # ------------------------------------------------------------ configuration and models

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        self._config = ServeAppConfig.model_validate(user_config or {})
        BodyLimit.limit = self._config.limits.max_body_bytes
        BodyLimit.body_timeout_s = self._config.limits.body_timeout_s
        AdmissionLimit.limit = self._config.limits.max_in_flight
        ApiKey.value = load_api_key(os.environ.get(self._config.api_key_file_env))
        if ApiKey.value is None:
            log.error(
                "no usable API key (file in $%s missing, unreadable or under %d characters): "
                "every request is refused",
                self._config.api_key_file_env,
                MIN_API_KEY_LENGTH,
            )
        if self._inference_workers != self._config.inference_workers:
            old = self._inference
            self._inference_workers = self._config.inference_workers
            self._inference = ThreadPoolExecutor(
                max_workers=self._inference_workers, thread_name_prefix="inference"
            )
            if old is not None:
                old.shutdown(wait=False)
        batched = self._batched_predict
        batched.set_max_batch_size(self._config.batching.max_batch_size)  # type: ignore[attr-defined]
        batched.set_batch_wait_timeout_s(self._config.batching.batch_wait_timeout_s)  # type: ignore[attr-defined]
        await self._refresh()
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._config.poll_interval_s)
            try:
                await self._refresh()
            except Exception:  # the poller must survive anything; the old model keeps serving
                log.exception("model refresh crashed")

    async def _refresh(self) -> None:
        """One model load at a time per replica: a `user_config` change racing a poll would
        otherwise download into, verify and delete the same files at once."""
        async with self._load_lock:
            await self._refresh_locked()

    async def _refresh_locked(self) -> None:
        config = self._config
        try:
            resolved = await asyncio.to_thread(
                self._reader_client().resolve, config.model_name, config.alias
            )
        except Exception as err:
            self._fail("registry", f"registry unreachable, alias unset or invalid: {_short(err)}")
            return
        current = self._predictor
        if (
            current is not None
            and current.info.version == resolved.version
            and current.info.precision == self._effective_precision(current)
            and current.threads == config.ort_threads
        ):
            return
        if resolved.version in self._rejected:
            return
        if not resolved.approved:
            # Not cached: approval is read again on every poll, so a forced promotion's tag
            # that lands after the alias moved is picked up on the next one.
            self._fail("unapproved", f"v{resolved.version} {resolved.reason}")
            return
        waiting = self._retry_at.get(resolved.version)
        if waiting is not None and time.monotonic() < waiting[1]:
            return
        try:
            predictor = await asyncio.wait_for(
                asyncio.to_thread(self._load, resolved), timeout=config.load_timeout_s
            )
        except (ModelLoadError, BundleTooLarge) as err:
            self._reject(resolved.version, "load", f"v{resolved.version}: {err}")
            return
        except Exception as err:  # download errors and deadlines: retry, with backoff
            attempts = (waiting[0] if waiting else 0) + 1
            # The first retries come at the poll interval (a blip, a registry that just came
            # back); only a failure that persists backs off, doubling up to the cap.
            delay = min(
                config.retry_backoff_max_s,
                config.poll_interval_s * 2 ** max(0, attempts - _QUICK_RETRIES),
            )
            self._retry_at[resolved.version] = (attempts, time.monotonic() + delay)
            self._fail(
                "download",
                f"v{resolved.version} could not be fetched (attempt {attempts}, next in "
                f"{delay:.0f} s): {_short(err)}",
            )
            return
        self._retry_at.pop(resolved.version, None)
        previous = current.info.version if current else None
        self._predictor = predictor  # one reference swap: in-flight requests keep the old one
        self._drop_downloads(keep=predictor.folder)
        self._last_error = None
        self._swaps.inc()
        self._version_gauge.set(float(resolved.version))
        log.info("serving %s v%s (was v%s)", resolved.name, resolved.version, previous)

    def _effective_precision(self, current: Predictor) -> str:
        """The precision the config asks for, as far as the loaded bundle can provide it."""
        wanted = self._config.precision
        return "int8" if wanted == "int8" and current.manifest.has_int8 else "fp32"

    def _reader_client(self) -> Any:
        if self._reader is None:
            from registry.credentials import RegistryCredentials
            from registry.reader import RegistryReader

            credentials = RegistryCredentials.from_environment()
            if credentials is None:
                raise RuntimeError("the serve zone has no registry credentials")
            credentials.activate()
            # MLflow's client retries for minutes by default; a replica should notice an
            # unreachable registry within seconds and keep serving what it has.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
            self._reader = RegistryReader()
        return self._reader

    def _load(self, resolved: ResolvedVersion) -> Predictor:
        """Download into a fresh folder of its own, verify against the digest pinned at
        registration, self-check through the request path, warm up. Anything wrong with
        the files is a ModelLoadError: refused once, reported, never re-downloaded."""
        folder = Path(tempfile.mkdtemp(prefix=f"v{resolved.version}-", dir=self._cache))
        try:
            local = self._reader_client().download(
                resolved, folder, max_bytes=self._config.max_bundle_bytes
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        try:
            predictor = Predictor(
                local,
                ModelInfo(
                    name=resolved.name,
                    version=resolved.version,
                    run_id=resolved.run_id,
                    precision=self._config.precision,
                ),
                threads=self._config.ort_threads,
                precision=self._config.precision,
                manifest_digest=resolved.manifest_digest,
            )
            predictor.self_check(self._config.self_check_tolerance)
            predictor.warm_up()
        except ModelLoadError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except Exception as err:  # a malformed file can fail anywhere in parsing or running
            shutil.rmtree(folder, ignore_errors=True)
            raise ModelLoadError(f"bundle unusable: {_short(err)}") from err
        return predictor

    def _fail(self, reason: str, message: str) -> None:
        if message != self._last_error:
            log.warning("model refresh: %s", message)
        self._last_error = message
        self._swap_failures.inc(tags={"reason": reason})

    def _reject(self, version: str, reason: str, message: str) -> None:
        self._rejected[version] = message
        self._fail(reason, message)

    def _drop_downloads(self, keep: Path) -> None:
        """Files of versions no longer served (their sessions, if any, live in memory)."""
        for folder in self._cache.iterdir():
            if folder != keep and keep not in folder.parents and folder not in keep.parents:
                shutil.rmtree(folder, ignore_errors=True)

    def __del__(self) -> None:
        # Serve calls this on graceful replica shutdown.
        shutil.rmtree(self._cache, ignore_errors=True)

    # ------------------------------------------------------------ request helpers

    def _model(self) -> Predictor:
        predictor = self._predictor
        if predictor is None:
            raise HTTPException(
                503,
                f"no model loaded yet ({self._last_error or 'loading'})",
                headers={"Retry-After": "5"},
            )
        return predictor

    def _check_texts(self, texts: list[str], field: str) -> None:
        limits = self._config.limits
        if len(texts) > limits.max_texts:
            raise HTTPException(
                422, f"{field}: {len(texts)} texts, the limit is {limits.max_texts} per request"
            )
        for i, text in enumerate(texts):
            if not text.strip():
                raise HTTPException(422, f"{field}[{i}] is empty")
            if len(text) > limits.max_chars:
                raise HTTPException(
                    422,
                    f"{field}[{i}] has {len(text)} characters, the limit is {limits.max_chars}",
                )

    async def _infer(self, predictor: Predictor, texts: list[str]) -> list[Prediction]:
        """Every text of a request goes through ``predictor``, the version the response
        names, even when batching puts it in a batch with another version's requests."""
        if self._config.batching.enabled:
            return list(
                await asyncio.gather(*(self._batched_predict((predictor, t)) for t in texts))
            )
        return await self._run_inference(predictor, texts)

    async def _run_inference(self, predictor: Predictor, texts: list[str]) -> list[Prediction]:
        """At most `inference_workers` model calls at once, off the event loop.

        A call that starts while none runs gets the `ort_threads` session (lowest latency for
        a lone request); calls that overlap get single-thread sessions and run side by side.
        Measured on 2 cores: one text through 2 threads is ~15% faster than through 1, but
        two texts through two 1-thread calls give ~1.6x the throughput of one 2-thread call.
        Unbounded concurrency (the default executor) ran 5 overlapping calls per replica.
        """
        alone = self._running_calls == 0
        self._running_calls += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._inference, functools.partial(predictor.predict, texts, alone=alone)
            )
        finally:
            self._running_calls -= 1

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002)
    async def _batched_predict(self, items: list[tuple[Predictor, str]]) -> list[Prediction]:
        # A swap can land between two requests of one batch: run each version's texts on
        # that version (nearly always one group).
        groups: dict[int, tuple[Predictor, list[int]]] = {}
        for index, (predictor, _) in enumerate(items):
            groups.setdefault(id(predictor), (predictor, []))[1].append(index)
        results: list[Prediction | None] = [None] * len(items)
        for predictor, indices in groups.values():
            predictions = await self._run_inference(predictor, [items[i][1] for i in indices])
            for i, prediction in zip(indices, predictions, strict=True):
                results[i] = prediction
        return [r for r in results if r is not None]

    def _observe(self, route: str, status: int, started: float) -> None:
        self._requests.inc(tags={"route": route, "status": str(status)})
        self._latency.observe((time.perf_counter() - started) * 1000, tags={"route": route})

    # ------------------------------------------------------------ routes

    @api.post("/v1/predict", response_model=PredictResponse, dependencies=AUTHENTICATED)
    async def predict(self, payload: PredictRequest, response: Response) -> PredictResponse:
        started = time.perf_counter()
        status = 500
        try:
            self._check_texts(payload.texts, "texts")
            predictor = self._model()
            infer_started = time.perf_counter()
            predictions = await self._infer(predictor, payload.texts)
            infer_ms = (time.perf_counter() - infer_started) * 1000
            info = predictor.info
            status = 200
            response.headers[MODEL_VERSION_HEADER] = info.version
            response.headers["server-timing"] = _server_timing(started, infer_ms)
            return PredictResponse(
                predictions=[PredictionOut(**p.__dict__) for p in predictions],
                model=ModelRef(
                    name=info.name,
                    version=info.version,
                    run_id=info.run_id,
                    precision=info.precision,
                ),
            )
        except HTTPException as err:
            status = err.status_code
            raise
        finally:
            self._observe("/v1/predict", status, started)

    @api.get("/v1/status", response_model=ServingStatus, dependencies=AUTHENTICATED)
    async def serving_status(self) -> ServingStatus:
        predictor = self._predictor
        return ServingStatus(
            model=self._config.model_name,
            alias=self._config.alias,
            version=predictor.info.version if predictor else None,
            precision=predictor.info.precision if predictor else None,
            last_error=self._last_error,
            refused=dict(self._rejected),
        )

    @api.get("/v1/limits", response_model=LimitsOut)
    async def limits(self) -> LimitsOut:
        return LimitsOut(**self._config.limits.model_dump())

    @api.get("/healthz")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/v2/health/live")
    async def live(self) -> dict[str, bool]:
        return {"live": True}

    @api.get("/v2/health/ready")
    async def ready(self) -> JSONResponse:
        predictor = self._predictor
        if predictor is None:
            # Unauthenticated: says whether, never why (registry errors stay on /v1/status).
            return JSONResponse(
                {"ready": False, "reason": "no verified model yet"}, status_code=503
            )
        return JSONResponse({"ready": True, "model_version": predictor.info.version})

    def _named(self, name: str) -> Predictor:
        if name != self._config.model_name:
            raise HTTPException(404, f"model {name!r} is not served here")
        return self._model()

    @api.get("/v2/models/{name}", response_model=ModelMetadata, dependencies=AUTHENTICATED)
    async def model_metadata(self, name: str) -> ModelMetadata:
        predictor = self._named(name)
        k = len(predictor.labels)
        return ModelMetadata(
            name=name,
            versions=[predictor.info.version],
            platform="onnxruntime_onnx",
            inputs=[TensorMeta(name="text", datatype="BYTES", shape=[-1])],
            outputs=[
                TensorMeta(name="label", datatype="BYTES", shape=[-1]),
                TensorMeta(name="score", datatype="FP32", shape=[-1]),
                TensorMeta(name="scores", datatype="FP32", shape=[-1, k]),
            ],
        )

    @api.get("/v2/models/{name}/ready", dependencies=AUTHENTICATED)
    async def model_ready(self, name: str) -> dict[str, bool]:
        self._named(name)
        return {"ready": True}

    @api.post("/v2/models/{name}/infer", response_model=InferResponse, dependencies=AUTHENTICATED)
    async def infer(self, name: str, payload: InferRequest, response: Response) -> InferResponse:
        started = time.perf_counter()
        status = 500
        try:
            tensor = payload.inputs[0]
            if tensor.shape != [len(tensor.data)]:
                raise HTTPException(
                    422, f"inputs[0].shape {tensor.shape} does not match {len(tensor.data)} texts"
                )
            self._check_texts(tensor.data, "inputs[0].data")
            predictor = self._named(name)
            infer_started = time.perf_counter()
            predictions = await self._infer(predictor, tensor.data)
            infer_ms = (time.perf_counter() - infer_started) * 1000
            n, k = len(predictions), len(predictor.labels)
            status = 200
            response.headers[MODEL_VERSION_HEADER] = predictor.info.version
            response.headers["server-timing"] = _server_timing(started, infer_ms)
            return InferResponse(
                model_name=name,
                model_version=predictor.info.version,
                id=payload.id,
                outputs=[
                    InferOutput(
                        name="label",
                        shape=[n],
                        datatype="BYTES",
                        data=[p.label for p in predictions],
                    ),
                    InferOutput(
                        name="score",
                        shape=[n],
                        datatype="FP32",
                        data=[p.score for p in predictions],
                    ),
                    InferOutput(
                        name="scores",
                        shape=[n, k],
                        datatype="FP32",
                        data=[p.scores[label] for p in predictions for label in predictor.labels],
                    ),
                ],
            )
        except HTTPException as err:
            status = err.status_code
            raise
        finally:
            self._observe("/v2/infer", status, started)


app = SentimentService.bind()  # type: ignore[attr-defined]
