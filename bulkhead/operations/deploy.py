"""``bulkhead deploy``: `serve deploy serve_config.yaml` against the serve zone, then prove it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from bulkhead.operations.errors import NotRunning, OperationFailed
from bulkhead.platform.core import Platform
from bulkhead.platform.services import ray_client_env
from bulkhead.platform.settings import Zone
from bulkhead.render.serve_config import render_config
from serving.client import ServeClient, ServeEndpoint
from serving.schemas import PredictResponse

READY_TIMEOUT_S = 180.0
SAMPLE_TEXTS = ["A warm, funny and beautifully acted film.", "Tedious, clumsy and far too long."]


class Deployment(BaseModel):
    """What `bulkhead deploy --json` prints: the version serving and a sample answer."""

    url: str
    model_version: str | None
    seconds: float
    sample_texts: list[str]
    sample: PredictResponse
    curl: str


def deploy(
    platform: Platform,
    config: Path,
    user_config: dict[str, Any] | None = None,
    deployment: dict[str, Any] | None = None,
) -> Deployment:
    reporter = platform.reporter
    zone = platform.load_state().zones.get(Zone.SERVE)
    if zone is None:
        raise NotRunning("deploy: the serve zone is not running; run `bulkhead up`")
    env = {
        **os.environ,
        **ray_client_env(zone.token_file),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    serve_bin = str(Path(sys.executable).parent / "serve")
    rendered = render_config(platform, config, user_config, deployment)
    started = time.monotonic()
    with reporter.step(f"serve deploy {config}"):
        done = subprocess.run(
            [serve_bin, "deploy", str(rendered), "--address", zone.dashboard_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        raise OperationFailed(f"serve deploy failed:\n{done.stderr[-2000:]}")
    endpoint = platform.serve_endpoint()
    with ServeClient(endpoint, timeout_s=10) as client:
        with reporter.step("waiting for a replica with a verified model"):
            version = wait_until_ready(client, READY_TIMEOUT_S)
        sample = client.predict(SAMPLE_TEXTS)
    seconds = time.monotonic() - started
    reporter.done(f"serve app ready at {endpoint.url} with model v{version} ({seconds:.0f} s)")
    return Deployment(
        url=endpoint.url,
        model_version=version,
        seconds=round(seconds, 1),
        sample_texts=SAMPLE_TEXTS,
        sample=sample,
        curl=curl_example(platform, endpoint),
    )


def wait_until_ready(client: ServeClient, timeout_s: float) -> str | None:
    """Poll readiness until a replica serves a verified model; the version it serves."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            ready = client.ready()
        except httpx.HTTPError as err:
            last = f"not answering: {err}"
        else:
            if ready.ready:
                return ready.model_version
            last = f"answered {ready.status_code}"
        time.sleep(1)
    raise OperationFailed(f"serve app not ready after {timeout_s:.0f} s ({last})")


def curl_example(platform: Platform, endpoint: ServeEndpoint) -> str:
    """A prediction with curl that reads the key from a file (``-H @file``): a key in an
    argument would be visible to every local user in ``ps``."""
    cacert = f"--cacert {endpoint.ca_file} " if endpoint.ca_file else ""
    return (
        f"curl -s {cacert}{endpoint.url}/v1/predict -H @{platform.paths.serve_auth_header} "
        "-H 'content-type: application/json' -d '{\"texts\": [\"a delightful film\"]}'"
    )
