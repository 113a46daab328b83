"""``bulkhead deploy``: `serve deploy serve_config.yaml` against the serve zone, then prove it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel, Field

from bulkhead.operations.errors import BadInput, NotRunning, OperationFailed
from bulkhead.platform.core import Platform
from bulkhead.platform.services import ray_client_env
from bulkhead.platform.settings import Zone
from bulkhead.render.serve_config import ServeConfigError, model_applications, render_config
from serving.client import ServeClient, ServeEndpoint
from serving.schemas import PredictResponse

READY_TIMEOUT_S = 180.0
SAMPLE_TEXTS = ["A warm, funny and beautifully acted film.", "Tedious, clumsy and far too long."]


class ModelServing(BaseModel):
    """One model's application after a deploy."""

    name: str
    application: str
    predict_url: str
    version: str | None = Field(description="Version a replica serves; None = none yet.")
    state: str = Field(description="serving | no champion yet")


class Deployment(BaseModel):
    """What `bulkhead deploy --json` prints: the versions serving and a sample answer."""

    url: str
    model_version: str | None
    seconds: float
    sample_texts: list[str]
    sample: PredictResponse
    curl: str
    models: list[ModelServing] = Field(default_factory=list)


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
    try:
        rendered = render_config(platform, config, user_config, deployment)
    except ServeConfigError as err:
        raise BadInput(f"{config}: {err}") from err
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
    applications = model_applications(rendered)
    with reporter.step(f"waiting for Serve to run {', '.join(applications)}"):
        wait_for_applications(
            [serve_bin, "status", "--address", zone.dashboard_url],
            env,
            set(applications),
            deployed_after=time.time() - (time.monotonic() - started) - 1,
            timeout_s=READY_TIMEOUT_S,
        )
    endpoint = platform.serve_endpoint()
    champions = platform.status().champions
    with ServeClient(endpoint, timeout_s=10) as client:
        with reporter.step("waiting for a replica with a verified model"):
            version = wait_until_ready(client, READY_TIMEOUT_S)
        sample = client.predict(SAMPLE_TEXTS)
    served = [
        serving_of(endpoint, app, model, champions.get(model))
        for app, model in applications.items()
    ]
    seconds = time.monotonic() - started
    for model in served:
        reporter.done(f"{model.name}: {model.state} v{model.version or '—'} at {model.predict_url}")
    reporter.done(f"serve app ready at {endpoint.url} with model v{version} ({seconds:.0f} s)")
    return Deployment(
        url=endpoint.url,
        model_version=version,
        seconds=round(seconds, 1),
        sample_texts=SAMPLE_TEXTS,
        sample=sample,
        curl=curl_example(platform, endpoint),
        models=served,
    )


def served_now(platform: Platform, deployment: Deployment) -> Deployment:
    """Each model of ``deployment`` as served now, models promoted since the deploy included:
    a model with a champion must be served (``OperationFailed`` otherwise, as at deploy)."""
    endpoint = platform.serve_endpoint()
    champions = platform.status().champions
    models = [
        serving_of(endpoint, model.application, model.name, champions.get(model.name))
        for model in deployment.models
    ]
    for model in models:
        platform.reporter.done(
            f"{model.name}: {model.state} v{model.version or '—'} at {model.predict_url}"
        )
    return deployment.model_copy(update={"models": models})


def wait_for_applications(
    status_command: list[str],
    env: dict[str, str],
    names: set[str],
    deployed_after: float,
    timeout_s: float,
) -> None:
    """Until every application of this deploy is RUNNING; a DEPLOY_FAILED one fails the
    deploy with Serve's own message (a wrong deployment name, an import error)."""
    deadline = time.monotonic() + timeout_s
    last = "no status yet"
    while time.monotonic() < deadline:
        done = subprocess.run(
            status_command, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        apps = (yaml.safe_load(done.stdout) or {}).get("applications", {}) if done.stdout else {}
        states = {}
        for name in names:
            app = apps.get(name) or {}
            fresh = float(app.get("last_deployed_time_s") or 0) >= deployed_after
            states[name] = app.get("status", "MISSING") if fresh else "NOT_YET_UPDATED"
            if fresh and states[name] == "DEPLOY_FAILED":
                message = str(app.get("message", "")).strip().splitlines()
                raise OperationFailed(
                    f"serve application {name} failed to deploy: "
                    f"{message[-1] if message else 'no message'}"
                )
        if all(state == "RUNNING" for state in states.values()):
            return
        last = ", ".join(f"{name} {state}" for name, state in sorted(states.items()))
        time.sleep(1)
    raise OperationFailed(f"serve applications not running after {timeout_s:.0f} s ({last})")


def serving_of(
    endpoint: ServeEndpoint, application: str, model: str, champion: str | None
) -> ModelServing:
    """A model with a champion must be served; one without waits for its first promotion."""
    with ServeClient(endpoint, timeout_s=10, model=model) as client:
        url = f"{endpoint.url}{client.predict_path}"
        if champion is None:
            return ModelServing(
                name=model,
                application=application,
                predict_url=url,
                version=None,
                state="no champion yet",
            )
        version = wait_until_ready(client, READY_TIMEOUT_S)
    return ModelServing(
        name=model, application=application, predict_url=url, version=version, state="serving"
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
