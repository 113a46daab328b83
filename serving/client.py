"""A typed client for the serve zone's HTTP API: URL, API key and CA in one place.

The CLI, the chaos harness, the benchmark and the load generators all call the serve zone
through this, so TLS (`up --tls`) and the key work the same everywhere. Ray-free and
torch-free: it imports httpx, pydantic and the serve payload schemas only.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from contracts import serve_api
from serving.schemas import (
    InferRequest,
    InferResponse,
    InferTensor,
    LimitsOut,
    PredictResponse,
    ServingStatus,
)


class ServeEndpoint(BaseModel):
    """Where the serve zone answers and what a caller needs to be let in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="Base URL, e.g. https://127.0.0.1:8000 (no trailing slash).")
    api_key_file: Path | None = Field(None, description="File holding the API key.")
    ca_file: Path | None = Field(
        None, description="CA that signs the endpoint's certificate (HTTPS); None = system CAs."
    )
    timeout_s: float = Field(10.0, gt=0, description="Per-request timeout.")

    def api_key(self) -> str | None:
        return self.api_key_file.read_text().strip() if self.api_key_file else None

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key()
        return serve_api.bearer(key) if key else {}

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx verifies the server with: the platform CA when there is one."""
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))


class ServeError(RuntimeError):
    """The serve zone answered with an error status; ``detail`` is its explanation."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class Readiness(BaseModel):
    """``GET /v2/health/ready``: whether a replica serves a verified model (never why not)."""

    ready: bool
    model_version: str | None = None
    status_code: int


class ServeClient:
    """One connection pool to the serve zone; use as a context manager or call ``close``."""

    def __init__(
        self,
        endpoint: ServeEndpoint,
        *,
        timeout_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        model: str | None = None,
    ) -> None:
        """``model``: call that model's routes (/v1/models/{model}/...); None = the default
        model's (/v1/predict, /v1/status, /v2/health/ready)."""
        self.endpoint = endpoint
        self.model = model
        route = (lambda leaf: serve_api.model_route(model, leaf)) if model else None
        self.predict_path = route(serve_api.MOUNTED_PREDICT) if route else serve_api.PREDICT
        self.status_path = route(serve_api.MOUNTED_STATUS) if route else serve_api.STATUS
        self.ready_path = route(serve_api.MOUNTED_READY) if route else serve_api.READY
        self.feedback_path = route(serve_api.MOUNTED_FEEDBACK) if route else serve_api.FEEDBACK
        self._headers = endpoint.auth_headers()
        self._http = httpx.Client(
            base_url=endpoint.url,
            verify=endpoint.verify(),
            timeout=timeout_s if timeout_s is not None else endpoint.timeout_s,
            transport=transport,
        )

    def __enter__(self) -> ServeClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------ raw access

    def request(
        self, method: str, path: str, *, authenticated: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Any request, answered as is (hostile-input tests send what the typed calls won't)."""
        headers = {**(self._headers if authenticated else {}), **kwargs.pop("headers", {})}
        return self._http.request(method, path, headers=headers, **kwargs)

    def predict_response(self, texts: list[str]) -> httpx.Response:
        """``POST /v1/predict`` without raising: load generators count every status."""
        return self.request("POST", self.predict_path, json={"texts": texts})

    def feedback_response(self, request_id: str, label: str, index: int = 0) -> httpx.Response:
        """``POST /v1/feedback``: the true label of text ``index`` of an earlier request (202)."""
        payload = {"request_id": request_id, "label": label, "index": index}
        return self.request("POST", self.feedback_path, json=payload)

    # ------------------------------------------------------------ typed calls

    def predict(self, texts: list[str]) -> PredictResponse:
        return PredictResponse.model_validate(_ok(self.predict_response(texts)).json())

    def infer(self, model: str, texts: list[str], request_id: str | None = None) -> InferResponse:
        payload = InferRequest(
            id=request_id,
            inputs=[InferTensor(name="text", shape=[len(texts)], datatype="BYTES", data=texts)],
        )
        response = self.request(
            "POST", serve_api.oip_infer(model), json=payload.model_dump(exclude_none=True)
        )
        return InferResponse.model_validate(_ok(response).json())

    def status(self) -> ServingStatus:
        return ServingStatus.model_validate(_ok(self.request("GET", self.status_path)).json())

    def limits(self) -> LimitsOut:
        response = self.request("GET", serve_api.LIMITS, authenticated=False)
        return LimitsOut.model_validate(_ok(response).json())

    def ready(self) -> Readiness:
        response = self.request("GET", self.ready_path, authenticated=False)
        body = _json(response)
        return Readiness(
            ready=response.status_code == 200 and bool(body.get("ready")),
            model_version=body.get("model_version"),
            status_code=response.status_code,
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        detail = serve_api.error_detail(_json(response)) or response.text[:200]
        raise ServeError(response.status_code, str(detail))
    return response
