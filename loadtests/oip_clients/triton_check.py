"""Triton's own HTTP client (`tritonclient.http`, as it ships) against a serve zone.

Runs inside its own environment (loadtests/oip_conformance.py installs it); prints one JSON
line per check: {"client", "model", "check", "ok", "detail"}. Never imports Bulkhead.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import tritonclient.http as httpclient
from client_key import api_key  # this folder: the scripts run from it
from tritonclient.utils import InferenceServerException


def report(model: str, check: str, work: Callable[[], Any]) -> None:
    try:
        ok, detail = True, work()
    except Exception as err:  # a failed check is reported, never raised
        ok, detail = False, f"{type(err).__name__}: {err}"
    line = {"client": "tritonclient.http", "model": model, "check": check}
    print(json.dumps({**line, "ok": ok, "detail": detail}), flush=True)


def refused(work: Callable[[], Any], status: str, words: str) -> str:
    """The call must raise the client's own error carrying our status and message."""
    try:
        work()
    except InferenceServerException as err:
        assert err.status() == status, (err.status(), err.message())
        assert words in (err.message() or ""), err.message()
        return f"{err.status()}: {err.message()}"
    raise AssertionError("the call succeeded")


def texts_input(texts: list[str], binary: bool) -> httpclient.InferInput:
    tensor = httpclient.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array(texts, dtype=np.object_), binary_data=binary)
    return tensor


def check_model(client: Any, auth: dict[str, str], model: str, texts: list[str]) -> None:
    # Every call gets its own headers dict: tritonclient writes Inference-Header-Content-Length
    # into the dict it is given, and a later JSON-only call on that dict would send it stale.
    def metadata() -> dict[str, Any]:
        meta: dict[str, Any] = client.get_model_metadata(model, headers=dict(auth))
        assert meta["name"] == model and meta["versions"], meta
        return meta

    report(model, "model metadata", metadata)
    version = metadata()["versions"][0]
    report(model, "model ready", lambda: client.is_model_ready(model, headers=dict(auth)))
    report(
        model,
        "version ready",
        lambda: client.is_model_ready(model, model_version=version, headers=dict(auth)),
    )

    def infer(binary_in: bool, binary_out: bool | None, pinned: bool) -> Any:
        outputs = None  # the client's default: every output, binary
        if binary_out is not None:
            outputs = [
                httpclient.InferRequestedOutput(name, binary_data=binary_out)
                for name in ("label", "score", "scores")
            ]
        result = client.infer(
            model,
            [texts_input(texts, binary_in)],
            model_version=version if pinned else "",
            outputs=outputs,
            request_id="conformance",
            headers=dict(auth),
        )
        labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
        scores = result.as_numpy("scores")
        assert scores.shape[0] == len(texts), scores.shape
        assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-3), scores
        return {"labels": labels, "version": result.get_response()["model_version"]}

    report(model, "infer binary in, binary out", lambda: infer(True, None, False))
    report(model, "infer json in, json out", lambda: infer(False, False, False))
    report(model, "infer binary in, json out", lambda: infer(True, False, False))
    report(model, "infer json in, binary out, pinned version", lambda: infer(False, True, True))
    too_many = [texts_input(texts * 65, True)]
    report(
        model,
        "too many texts refused",
        lambda: refused(lambda: client.infer(model, too_many, headers=dict(auth)), "400", "texts"),
    )
    report(
        model,
        "unknown version refused",
        lambda: refused(
            lambda: client.get_model_metadata(model, model_version="999999", headers=dict(auth)),
            "404",
            "999999",
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--texts", required=True, help="JSON list")
    args = parser.parse_args()
    texts: list[str] = json.loads(args.texts)
    models: list[str] = args.models.split(",")
    client = httpclient.InferenceServerClient(urlsplit(args.url).netloc, network_timeout=30)
    auth = {"Authorization": f"Bearer {api_key()}"}
    report("", "server live", lambda: client.is_server_live())
    report("", "server ready", lambda: client.is_server_ready())
    report("", "server metadata", lambda: client.get_server_metadata())
    for model in models:
        check_model(client, auth, model, texts)
    report(
        "",
        "unknown model refused",
        lambda: refused(
            lambda: client.get_model_metadata("nope", headers=dict(auth)), "404", "nope"
        ),
    )
    report(
        "",
        "wrong key refused",
        lambda: refused(lambda: client.get_model_metadata(models[0]), "401", "API key"),
    )


if __name__ == "__main__":
    main()
