"""The replica's middleware as plain ASGI: key gate, admission limit, body limit, each
configured by the Guards object of its own app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from serving.http.auth import ApiKey, load_api_key
from serving.http.middleware import AdmissionLimit, ApiKeyGate, BodyLimit, Guards


def test_requests_beyond_the_limit_get_503_with_retry_after_and_others_pass() -> None:
    guards = Guards(max_in_flight=2)
    release = asyncio.Event()
    answered: list[tuple[str, int, dict[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> None:
        limited = AdmissionLimit(app, guards)

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
    assert guards.in_flight == 0


def test_unauthenticated_requests_never_take_a_slot_or_read_a_body(tmp_path) -> None:
    """Slow bodies without a key once held every admission slot: real callers got 503."""
    key_file = tmp_path / "key"
    key_file.write_text("k" * 32)
    guards = Guards(max_in_flight=2, api_key=ApiKey(load_api_key(str(key_file))))
    body_reads = 0

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    stack = ApiKeyGate(AdmissionLimit(BodyLimit(inner, guards), guards), guards)

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
    assert guards.in_flight == 0


@pytest.mark.parametrize("content", ["", "\n", "short-key"])
def test_an_empty_or_short_key_file_fails_closed(tmp_path, content: str) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(content)
    key = ApiKey(load_api_key(str(key_file)))
    assert key.value is None
    for header in ("Bearer ", "Bearer", f"Bearer {content.strip()}", ""):
        assert not key.accepts(header)
    assert load_api_key(str(tmp_path / "missing")) is None


async def _status_of(
    app: Any, body: list[bytes], headers: list[tuple[bytes, bytes]], trickle: bool = False
) -> int:
    status = 0
    chunks = list(body)

    async def send(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    async def receive() -> Any:
        if not chunks:
            await asyncio.sleep(3600)
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks) or trickle}

    scope = {"type": "http", "path": "/v1/predict", "method": "POST", "headers": headers}
    await app(scope, receive, send)
    return status


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    assert not message.get("more_body")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_bodies_over_the_limit_get_413_declared_or_chunked() -> None:
    guards = Guards(max_body_bytes=1024)
    app = BodyLimit(_ok, guards)
    declared = [(b"content-length", b"5000")]
    assert asyncio.run(_status_of(app, [b"x"], declared)) == 413
    assert asyncio.run(_status_of(app, [b"x" * 600, b"x" * 600], [])) == 413
    assert asyncio.run(_status_of(app, [b"x" * 600, b"x" * 400], [])) == 200


def test_a_trickled_body_is_cut_off_with_408() -> None:
    guards = Guards(body_timeout_s=0.2)
    status = asyncio.run(
        asyncio.wait_for(_status_of(BodyLimit(_ok, guards), [b"{"], [], trickle=True), 5)
    )
    assert status == 408


def test_two_apps_never_share_limits() -> None:
    """Limits live on each app's Guards, not on the middleware classes: reconfiguring one
    replica's app (or a test's) cannot change another's."""
    strict, lenient = Guards(max_body_bytes=1024), Guards(max_body_bytes=1_000_000)
    body = [b"x" * 5000]
    assert asyncio.run(_status_of(BodyLimit(_ok, strict), body, [])) == 413
    assert asyncio.run(_status_of(BodyLimit(_ok, lenient), body, [])) == 200
    strict.max_body_bytes = 10_000  # what reconfigure does
    assert asyncio.run(_status_of(BodyLimit(_ok, strict), body, [])) == 200


def test_admission_counts_every_prediction_form_and_only_those() -> None:
    """Found by review: the admission limit matched path prefixes, so /v1/models/{name}/predict
    (and nested forms) never took a slot. It now acts on the one resolution of the route."""
    guards = Guards(max_in_flight=0, model="sentiment")
    statuses: dict[str, int] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call(path: str, root_path: str = "") -> None:
        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses[root_path + "|" + path] = message["status"]

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "path": path, "root_path": root_path, "method": "POST"}
        await AdmissionLimit(app, guards)(scope, receive, send)

    async def main() -> None:
        for path in ("/v1/predict", "/v1/models/subjectivity/predict", "/v2/models/x/infer"):
            await call(path)
        await call("/v1/models/subjectivity/predict", "/v1/models/subjectivity")
        await call("/v1/family/t-1/predict", "/v1/family")
        for path in ("/v1/status", "/v2/health/ready", "/v1/models/subjectivity/ready"):
            await call(path)

    asyncio.run(main())
    admitted = [k for k, status in statuses.items() if status == 503]
    assert sorted(admitted) == sorted(
        [
            "|/v1/predict",
            "|/v1/models/subjectivity/predict",
            "|/v2/models/x/infer",
            "/v1/models/subjectivity|/v1/models/subjectivity/predict",
            "/v1/family|/v1/family/t-1/predict",
        ]
    )
    assert len(statuses) == 8


def test_the_gate_answers_404_for_a_path_no_route_answers_before_the_key(tmp_path) -> None:
    guards = Guards(api_key=ApiKey(b"k" * 32), model="sentiment")
    statuses: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never
        raise AssertionError("an unresolved path reached the application")

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    root = "/v1/models/subjectivity"
    for path in (f"{root}/v2/models/sentiment/infer", f"{root}//predict", f"{root}/v1/predict"):
        scope = {"type": "http", "path": path, "root_path": root, "method": "POST"}
        asyncio.run(ApiKeyGate(app, guards)(scope, receive, send))
    assert statuses == [404, 404, 404]


def test_a_client_keys_id_not_a_header_keys_the_canary_assignment(tmp_path) -> None:
    """A client could pick the version it reached by sending x-bulkhead-client-key; the
    assignment is keyed on the id of the key the gate authenticated."""
    from contracts.client_keys import ClientKey, ClientKeys, key_digest
    from serving.http.auth import ClientKeyFile

    token = "t" * 32
    keys = tmp_path / "client-keys.json"
    key = ClientKey(id="k-00000000000a", name="c", sha256=key_digest(token), models=("*",))
    keys.write_text(ClientKeys(keys=[key]).model_dump_json())
    guards = Guards(api_key=ApiKey(b"p" * 32, ClientKeyFile(str(keys))), model="sentiment")
    seen: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["state"].get("bulkhead_client_key_id"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    for bearer in (token, "p" * 32):
        headers = [
            (b"authorization", f"Bearer {bearer}".encode()),
            (b"x-bulkhead-client-key", b"chosen-by-client"),
        ]
        scope = {"type": "http", "path": "/v1/predict", "headers": headers, "method": "POST"}
        asyncio.run(ApiKeyGate(app, guards)(scope, receive, send))
    assert seen == ["k-00000000000a", None]
