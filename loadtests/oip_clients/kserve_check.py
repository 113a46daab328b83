"""KServe's Python inference client (`kserve.InferenceRESTClient`, v2, as it ships) against a
serve zone.

Runs inside its own environment (loadtests/oip_conformance.py installs it); prints one JSON
line per check: {"client", "model", "check", "ok", "detail"}. Never imports Bulkhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
from client_key import api_key  # this folder: the scripts run from it
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


async def report(model: str, check: str, work: Callable[[], Awaitable[Any]]) -> None:
    try:
        ok, detail = True, await work()
    except Exception as err:  # a failed check is reported, never raised
        ok, detail = False, f"{type(err).__name__}: {err}"
    line = {"client": "kserve.InferenceRESTClient", "model": model, "check": check}
    print(json.dumps({**line, "ok": ok, "detail": detail}, default=str), flush=True)


async def refused(work: Awaitable[Any], status: int, words: str) -> str:
    try:
        await work
    except httpx.HTTPStatusError as err:
        assert err.response.status_code == status, str(err)
        assert words in str(err), str(err)
        return str(err)
    raise AssertionError("the call succeeded")


def request(model: str, texts: list[str], binary: bool) -> InferRequest:
    tensor = InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array(texts, dtype=np.object_), binary_data=binary)
    return InferRequest(model_name=model, infer_inputs=[tensor], request_id="conformance")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--texts", required=True, help="JSON list")
    args = parser.parse_args()
    texts: list[str] = json.loads(args.texts)
    url, auth = args.url, {"Authorization": f"Bearer {api_key()}"}
    # Every call gets its own headers dict: the client writes Inference-Header-Content-Length
    # into the dict it is given, and a later JSON-only call on that dict would send it stale.
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=30))
    await report("", "server live", lambda: client.is_server_live(url))
    await report("", "server ready", lambda: client.is_server_ready(url))
    for model in args.models.split(","):

        async def ready(m: str = model) -> bool:
            assert await client.is_model_ready(url, m, headers=dict(auth))
            return True

        async def infer(binary: bool, m: str = model) -> dict[str, Any]:
            # KServe's client drops model_version when it parses a REST answer: read it from
            # the response header Bulkhead sets on every prediction.
            seen: dict[str, str] = {}
            answer = await client.infer(
                url,
                request(m, texts, binary),
                model_name=m,
                headers=dict(auth),
                response_headers=seen,
            )
            outputs = {o.name: o for o in answer.outputs}
            labels = [
                v.decode() if isinstance(v, bytes) else v for v in outputs["label"].as_numpy()
            ]
            scores = outputs["scores"].as_numpy().reshape(len(texts), -1)
            assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-3), scores
            return {"labels": labels, "version": seen.get("x-model-version")}

        await report(model, "model ready", ready)
        await report(model, "infer json", lambda: infer(False))
        await report(model, "infer binary", lambda: infer(True))
        await report(
            model,
            "too many texts refused",
            lambda m=model: refused(
                client.infer(url, request(m, texts * 65, False), model_name=m, headers=dict(auth)),
                400,
                "texts",
            ),
        )

    async def unknown_not_ready() -> bool:
        assert not await client.is_model_ready(url, "nope", headers=dict(auth))
        return True

    await report("", "unknown model not ready", unknown_not_ready)
    first = args.models.split(",")[0]
    await report(
        "",
        "wrong key refused",
        lambda: refused(
            client.infer(url, request(first, texts, False), model_name=first),
            401,
            "API key",
        ),
    )
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
