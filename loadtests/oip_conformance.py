"""Real Open Inference Protocol clients, exactly as they ship, against a serve zone.

Triton's ``tritonclient.http`` and KServe's ``InferenceRESTClient`` each run in their own
environment under ``.bulkhead/peers/`` (their pins never touch Bulkhead's; KServe's is the
bench's KServe environment), from the scripts in ``loadtests/oip_clients/``, and report one
check per line: health, server and model metadata, readiness, inference with JSON and binary
tensors, a pinned version, and the refusals each client must be able to read.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from loadtests.bench.peers import PEERS, model_pins, own_environment
from loadtests.oip_clients.client_key import API_KEY_ENV

SCRIPTS = Path(__file__).resolve().parent / "oip_clients"
CLIENT_TIMEOUT_S = 300


class OipClient(BaseModel):
    name: str
    script: str
    environment: str
    packages: list[str]


def _numpy_pin() -> list[str]:
    return [pin for pin in model_pins() if pin.startswith("numpy==")]


CLIENTS: dict[str, OipClient] = {
    client.name: client
    for client in (
        OipClient(
            name="tritonclient.http",
            script="triton_check.py",
            environment="tritonclient",
            packages=["tritonclient[http]==2.73.0", *_numpy_pin()],
        ),
        OipClient(
            name="kserve.InferenceRESTClient",
            script="kserve_check.py",
            # The bench's KServe environment, pins and all: installed once for both.
            environment=PEERS["kserve-v2"].environment or "kserve",
            packages=PEERS["kserve-v2"].packages + model_pins(),
        ),
    )
}


class Check(BaseModel):
    client: str
    model: str
    check: str
    ok: bool
    detail: Any = None


def run_client(
    home: Path,
    client: OipClient,
    url: str,
    api_key: str,
    models: list[str],
    texts: list[str],
    log: Callable[[str], None],
) -> list[Check]:
    """Every check the client made; a client that could not run at all is one failed check
    saying why (its environment would not install, or it crashed)."""
    try:
        python = own_environment(home, client.environment, client.packages, log)
    except RuntimeError as err:
        return [Check(client=client.name, model="", check="install", ok=False, detail=str(err))]
    command = [python, str(SCRIPTS / client.script), "--url", url]
    command += ["--models", ",".join(models), "--texts", json.dumps(texts)]
    # The key travels in the environment: argv is world-readable (`ps`), and a key that
    # starts with '-' would be read as an option.
    env = {**os.environ, API_KEY_ENV: api_key}
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False, env=env
    )
    checks = [Check.model_validate_json(line) for line in run.stdout.splitlines() if line]
    if run.returncode != 0:
        checks.append(
            Check(client=client.name, model="", check="run", ok=False, detail=run.stderr[-1500:])
        )
    return checks
