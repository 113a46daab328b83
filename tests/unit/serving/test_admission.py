"""The replica's admission limit, as plain ASGI: beyond the limit an immediate 503 + Retry-After."""

from __future__ import annotations

import asyncio
from typing import Any

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
