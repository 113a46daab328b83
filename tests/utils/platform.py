"""Run the real `bulkhead` CLI against a platform on its own ports and state folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkhead.platform.paths import StatePaths
from bulkhead.platform.settings import PlatformSettings

BULKHEAD = str(Path(sys.executable).parent / "bulkhead")

# The tiny model cannot reach the production floors; tests of the mechanics (promotion,
# swaps) lower them explicitly in a config file. Parity stays gated.
# The second bundled model (fixture ``second_model`` in tests/conftest.py).
SECOND_MODEL = "subjectivity"

PROMOTABLE_TINY = "gate:\n  min_accuracy: 0.0\n  min_macro_f1: 0.0\n"


@dataclass(frozen=True)
class TestPlatform:
    """Ports chosen away from the defaults so a developer's own `make up` can keep running."""

    home: Path
    registry_port: int
    serve_http_port: int
    port_base: int
    # Variables every command of this platform gets (e.g. its own BULKHEAD_MODELS).
    extra_env: tuple[tuple[str, str], ...] = ()

    __test__ = False  # not a pytest class

    def __post_init__(self) -> None:
        # pytest's temporary folders are 0700; as root, `up` runs each zone as its own user,
        # which must be able to pass through them to the platform home (not list them).
        if os.geteuid() == 0:
            for parent in self.home.parents:
                if parent == Path("/"):
                    break
                if parent.exists() and not parent.stat().st_mode & 0o001:
                    parent.chmod(parent.stat().st_mode | 0o001)

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BULKHEAD_", "MLFLOW_", "RAY_"))
        }
        env.update(
            {
                "BULKHEAD_HOME": str(self.home),
                "BULKHEAD_REGISTRY_PORT": str(self.registry_port),
                "BULKHEAD_SERVE_HTTP_PORT": str(self.serve_http_port),
                "BULKHEAD_INGEST__PORT_BASE": str(self.port_base),
                "BULKHEAD_TRAIN__PORT_BASE": str(self.port_base + 1000),
                "BULKHEAD_SERVE__PORT_BASE": str(self.port_base + 2000),
                "COLUMNS": "200",
            }
        )
        env.update(dict(self.extra_env))
        return env

    @property
    def settings(self) -> PlatformSettings:
        from bulkhead.platform.settings import (
            IngestZoneSettings,
            ServeZoneSettings,
            TrainZoneSettings,
        )

        return PlatformSettings(
            home=self.home,
            registry_port=self.registry_port,
            serve_http_port=self.serve_http_port,
            ingest=IngestZoneSettings(port_base=self.port_base),
            train=TrainZoneSettings(port_base=self.port_base + 1000),
            serve=ServeZoneSettings(port_base=self.port_base + 2000),
        )

    @property
    def paths(self) -> StatePaths:
        return StatePaths.at(self.home)

    def cli(
        self, *args: str, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``env``: variables over the platform's (a user's shell with e.g. BULKHEAD_MODELS)."""
        return subprocess.run(
            [BULKHEAD, *args],
            env={**self.env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli_json(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> Any:
        done = self.cli(*args, "--json", timeout=timeout, env=env)
        # stdout too: `status --json` exits 3 with the stopped part named only there.
        assert done.returncode == 0, (
            f"exit {done.returncode}\nstderr: {done.stderr[-3000:]}\nstdout: {done.stdout[-3000:]}"
        )
        return json.loads(done.stdout)

    def secret(self, name: str) -> str:
        return (self.paths.secrets / name).read_text().strip()

    def password(self, user: str) -> str:
        data = json.loads(self.paths.registry_credentials(user).read_text())
        return str(data["password"])


@dataclass(frozen=True)
class Served:
    """The integration serve zone's URL and API key."""

    url: str
    key: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def answering_version(self) -> str:
        """The version that answers one prediction now (the request must succeed)."""
        import httpx

        response = httpx.post(
            f"{self.url}/v1/predict", json={"texts": ["a fine film"]}, headers=self.headers()
        )
        assert response.status_code == 200, response.text
        version: str = response.json()["model"]["version"]
        return version


def train_tiny(
    platform: TestPlatform,
    snapshot: Path,
    tmp: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train the tiny preset with lowered floors so that it can become champion."""
    config = tmp / "tiny.yaml"
    config.write_text(PROMOTABLE_TINY)
    done = platform.cli(
        "train",
        "--snapshot",
        str(snapshot),
        "--preset",
        "tiny",
        "--config",
        str(config),
        "--json",
        *extra,
        timeout=900,
        env=env,
    )
    assert done.returncode in (0, 3), done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result
