"""The serve client against a fake transport: key, typed answers, errors, readiness."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from serving.client import ServeClient, ServeEndpoint, ServeError

STATUS = {
    "model": "sentiment",
    "alias": "champion",
    "version": "3",
    "precision": "fp32",
    "last_error": None,
    "refused": {"2": "v2: bundle rejected"},
}


def _client(tmp_path: Path, handler) -> ServeClient:
    key = tmp_path / "key"
    key.write_text("k" * 32 + "\n")
    endpoint = ServeEndpoint(url="http://serve", api_key_file=key)
    return ServeClient(endpoint, transport=httpx.MockTransport(handler))


def test_typed_calls_send_the_key_only_where_it_is_needed(tmp_path: Path) -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] = request.headers.get("authorization")
        if request.url.path == "/v1/status":
            return httpx.Response(200, json=STATUS)
        return httpx.Response(503, json={"ready": False, "reason": "no verified model yet"})

    with _client(tmp_path, handler) as client:
        status = client.status()
        ready = client.ready()
    assert status.version == "3" and status.refused == {"2": "v2: bundle rejected"}
    assert not ready.ready and ready.status_code == 503
    assert seen["/v1/status"] == "Bearer " + "k" * 32
    assert seen["/v2/health/ready"] is None  # the key never goes where it is not needed


def test_an_error_status_raises_with_the_servers_detail(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": "texts[0] is empty"})

    with _client(tmp_path, handler) as client, pytest.raises(ServeError) as raised:
        client.predict([""])
    assert raised.value.status_code == 422 and raised.value.detail == "texts[0] is empty"


def test_infer_sends_one_bytes_tensor(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        tensor = payload["inputs"][0]
        assert tensor == {"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}
        return httpx.Response(
            200,
            json={
                "model_name": "sentiment",
                "model_version": "3",
                "id": payload.get("id"),
                "outputs": [
                    {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["x", "y"]}
                ],
            },
        )

    with _client(tmp_path, handler) as client:
        answer = client.infer("sentiment", ["a", "b"], request_id="r")
    assert answer.model_version == "3" and answer.id == "r"


def test_the_platform_ca_is_what_https_is_verified_against(tmp_path: Path) -> None:
    assert ServeEndpoint(url="https://x").verify() is True
    with pytest.raises(FileNotFoundError):
        ServeEndpoint(url="https://x", ca_file=tmp_path / "missing.pem").verify()
