"""The replica's admission limit, as plain ASGI: beyond the limit an immediate 503 + Retry-After."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from serving.app import AdmissionLimit


def test_requests_beyond_the_limit_get_503_with_retry_after_and_others_pass() -> None:
    release = asyncio.Event()
    answered: list[tuple[str, int, dict[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> None:
        AdmissionLimit.limit, AdmissionLimit.in_flight = 2, 0
        limited = AdmissionLimit(app)

        async def call(name: str, path: str = "/v1/predict") -> None:
            status = 0
            headers: dict[bytes, bytes] = {}

            async def send(message: Any) -> None:
                nonlocal status, headers
                if message["type"] == "http.response.start":
                    status, headers = message["status"], dict(message["headers"])

            async def receive() -> Any:
                return {"type": "http.request", "body": b"", "more_body": False}

            await limited({"type": "http", "path": path, "method": "POST"}, receive, send)
            answered.append((name, status, headers))

        held = [asyncio.create_task(call(f"held{i}")) for i in range(2)]
        await asyncio.sleep(0.01)
        await call("third")  # answered at once while two are held
        health = asyncio.create_task(call("health", "/v2/health/ready"))  # never limited
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(*held, health)

    asyncio.run(main())
    by_name = {name: (status, headers) for name, status, headers in answered}
    assert answered[0][0] == "third"
    assert by_name["third"][0] == 503 and by_name["third"][1][b"retry-after"] == b"1"
    assert by_name["held0"][0] == by_name["held1"][0] == by_name["health"][0] == 200
    assert AdmissionLimit.in_flight == 0


def test_unauthenticated_requests_never_take_a_slot_or_read_a_body(tmp_path) -> None:
    """Slow bodies without a key once held every admission slot: real callers got 503."""
    from serving.app import ApiKey, ApiKeyGate, BodyLimit, load_api_key

    key_file = tmp_path / "key"
    key_file.write_text("k" * 32)
    ApiKey.value = load_api_key(str(key_file))
    AdmissionLimit.limit, AdmissionLimit.in_flight = 2, 0
    body_reads = 0

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    stack = ApiKeyGate(AdmissionLimit(BodyLimit(inner)))

    async def call(headers: list[tuple[bytes, bytes]], hold_body: bool) -> int:
        status = 0

        async def send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        async def receive() -> Any:
            nonlocal body_reads
            body_reads += 1
            if hold_body:
                await asyncio.sleep(3600)  # a slowloris body that never arrives
            return {"type": "http.request", "body": b"{}", "more_body": False}

        scope = {"type": "http", "path": "/v1/predict", "method": "POST", "headers": headers}
        await stack(scope, receive, send)
        return status

    async def main() -> tuple[list[int], int]:
        attackers = [await asyncio.wait_for(call([], hold_body=True), 1) for _ in range(40)]
        wrong = await asyncio.wait_for(
            call([(b"authorization", b"Bearer " + b"x" * 32)], hold_body=True), 1
        )
        real = await call([(b"authorization", b"Bearer " + b"k" * 32)], hold_body=False)
        return [*attackers, wrong], real

    refused, real = asyncio.run(main())
    assert set(refused) == {401}
    assert real == 200
    assert body_reads == 1  # only the real caller's body was read
    assert AdmissionLimit.in_flight == 0


@pytest.mark.parametrize("content", ["", "\n", "short-key"])
def test_an_empty_or_short_key_file_fails_closed(tmp_path, content: str) -> None:
    from serving.app import ApiKey, load_api_key

    key_file = tmp_path / "key"
    key_file.write_text(content)
    ApiKey.value = load_api_key(str(key_file))
    assert ApiKey.value is None
    for header in ("Bearer ", "Bearer", f"Bearer {content.strip()}", ""):
        assert not ApiKey.accepts(header)
    assert load_api_key(str(tmp_path / "missing")) is None
