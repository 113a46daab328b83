"""Run Locust headless as its own process against a serve endpoint and write the report.

A report folder holds Locust's CSVs, ``requests.csv`` (one row per request), ``summary.json``
and ``loadtest.png``. The run is bounded: the profile's stages, plus a hard kill.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from contracts import env as names
from loadtests.plots import plot_run
from loadtests.profiles import LoadProfile
from loadtests.summary import LoadTestSummary, ReplicaPoint, read_samples, summarize

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"
BENCH_LOCUSTFILE = HERE / "bench_locustfile.py"
# Locust gets this long beyond the profile to start and to stop its users.
GRACE_S = 30.0


class LoadTarget(BaseModel):
    """Where the load goes and how to see the serve zone's replicas while it runs."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    api_key_file: Path | None = None
    ca_file: Path | None = None
    model_name: str = "sentiment"
    app_name: str = "sentiment"
    predict_path: str = "/v1/predict"
    oip: bool = Field(True, description="The model answers OIP v2 (the default model's app).")
    dashboard_url: str | None = None
    ray_token_file: Path | None = None


class LocustFailed(RuntimeError):
    """Locust exited with an error before producing a usable request log."""


class ReplicaWatcher:
    """Samples the Serve app's running replica count once a second from the dashboard."""

    def __init__(self, target: LoadTarget, interval_s: float = 1.0) -> None:
        self.target = target
        self.interval_s = interval_s
        self.points: list[tuple[float, int, int | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replica-watcher", daemon=True)

    def __enter__(self) -> ReplicaWatcher:
        if self.target.dashboard_url:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sample(self) -> tuple[int, int | None] | None:
        assert self.target.dashboard_url
        request = urllib.request.Request(f"{self.target.dashboard_url}/api/serve/applications/")
        if self.target.ray_token_file:
            token = self.target.ray_token_file.read_text().strip()
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                body = json.load(response)
        except (OSError, ValueError):
            return None
        app = body.get("applications", {}).get(self.target.app_name)
        if not app:
            return 0, None
        running, target = 0, 0
        for deployment in app.get("deployments", {}).values():
            running += sum(1 for r in deployment.get("replicas", []) if r.get("state") == "RUNNING")
            target += int(deployment.get("target_num_replicas") or 0)
        return running, target

    def _run(self) -> None:
        while not self._stop.is_set():
            got = self.sample()
            if got is not None:
                self.points.append((time.time(), got[0], got[1]))
            self._stop.wait(self.interval_s)

    def relative(self, started_at: float) -> list[ReplicaPoint]:
        return [
            ReplicaPoint(t=round(t - started_at, 2), running=r, target=g) for t, r, g in self.points
        ]


def locust_command(
    locustfile: Path, profile: LoadProfile, target: LoadTarget, out: Path, classes: tuple[str, ...]
) -> list[str]:
    return [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        target.base_url,
        "--csv",
        str(out / "locust"),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "5",
        "--run-time",
        f"{int(profile.total_s + GRACE_S)}s",
        *classes,
    ]


def run_locust(
    profile: LoadProfile,
    target: LoadTarget,
    out: Path,
    texts_file: Path,
    *,
    locustfile: Path = LOCUSTFILE,
    extra_env: dict[str, str] | None = None,
    on_tick: Callable[[float], None] | None = None,
) -> LoadTestSummary:
    """Run one profile to completion and return its summary (also written to ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    request_log = out / "requests.csv"
    env = dict(os.environ)
    env.update(
        {
            names.LOAD_PROFILE: profile.name,
            names.LOADTEST_TEXTS: str(texts_file),
            names.REQUEST_LOG: str(request_log),
            names.MODEL_NAME: target.model_name,
            names.LOADTEST_PREDICT_PATH: target.predict_path,
            names.LOADTEST_OIP: "1" if target.oip else "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if target.api_key_file:
        env[names.SERVE_API_KEY_FILE] = str(target.api_key_file)
    if target.ca_file:
        env[names.SERVE_CA_FILE] = str(target.ca_file)
    env.update(extra_env or {})
    classes = profile.user_classes if locustfile == LOCUSTFILE else ()
    command = locust_command(locustfile, profile, target, out, classes)
    log_path = out / "locust.log"
    with ReplicaWatcher(target) as watcher, log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + profile.total_s + 2 * GRACE_S
        started = time.monotonic()
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise LocustFailed(f"locust ran past {deadline - started:.0f} s and was killed")
            if on_tick is not None:
                on_tick(time.monotonic() - started)
            time.sleep(0.5)
    if not request_log.exists() or request_log.stat().st_size == 0:
        tail = log_path.read_text()[-2000:]
        raise LocustFailed(f"locust exited {process.returncode} without a request log:\n{tail}")
    started_at, samples = read_samples(request_log)
    if not samples:
        raise LocustFailed(f"locust sent no request; see {log_path}")
    summary = summarize(profile, samples, started_at, target.base_url, watcher.relative(started_at))
    (out / "summary.json").write_text(summary.model_dump_json(indent=2))
    plot_run(summary, samples, out / "loadtest.png")
    return summary
