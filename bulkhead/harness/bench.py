"""``bulkhead bench``: the champion bundle behind every stack a user might pick, one at a time.

In-process limit, a hand-written FastAPI server, ``mlflow models serve`` and Bulkhead's own
serve zone (fp32 and int8) each get the same Locust profiles (1 user, then 8 users, one text
per request, warm-up excluded). Only one server takes load at any time; the serve zone stays up
but idle while the baselines run.
"""

from __future__ import annotations

import os
import platform as host
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bulkhead.harness.loadtest import request_texts, run_with_progress, serve_target
from bulkhead.operations.deploy import deploy
from bulkhead.operations.errors import BadInput, OperationFailed
from bulkhead.platform.core import Platform
from contracts import env
from loadtests.bench import inprocess
from loadtests.bench.report import BenchReport, SystemFigures, add_ratios, plot
from loadtests.bench.servers import ServerProcess, free_port
from loadtests.profiles import get_profile
from loadtests.runner import BENCH_LOCUSTFILE, LoadTarget
from loadtests.texts import read_texts
from serving.client import ServeClient, ServeError

PRECISIONS = ("fp32", "int8")
SERVE_CONFIG = Path("serve_config.yaml")


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores {cpu} ({host.system()} {host.machine()})".strip()


def download_champion(platform: Platform, version: str, destination: Path) -> Path:
    """The exact bundle serving loads, fetched as the serve zone's read-only registry user."""
    from registry.reader import RegistryReader

    platform.credentials("server").activate()
    reader = RegistryReader()
    return reader.download(reader.pinned(platform.settings.model_name, version), destination)


def measure_system(
    platform: Platform,
    name: str,
    precision: str,
    target: LoadTarget,
    kind: str,
    out: Path,
    texts: Path,
) -> SystemFigures:
    legs = {}
    for profile_name in ("latency", "throughput"):
        profile = get_profile(profile_name)
        folder = out / f"{kind}-{precision}" / profile_name
        summary = run_with_progress(
            platform,
            profile,
            target,
            folder,
            texts,
            locustfile=BENCH_LOCUSTFILE,
            extra_env={env.BENCH_TARGET: kind},
        )
        legs[profile_name] = summary.overall
        platform.reporter.info(
            f"  {name} {precision} {profile.description} → {summary.overall.rps:.1f} req/s, "
            f"p50 {summary.overall.p50_ms} ms, p99 {summary.overall.p99_ms} ms, "
            f"{summary.overall.failures} failed"
        )
    return SystemFigures(
        system=name, precision=precision, one_user=legs["latency"], eight_users=legs["throughput"]
    )


def wait_for_precision(platform: Platform, precision: str, timeout_s: float = 120.0) -> None:
    """Serve reconfigures replicas in place; wait until several answers in a row report it."""
    deadline, streak = time.monotonic() + timeout_s, 0
    with ServeClient(platform.serve_endpoint(), timeout_s=5) as client:
        while time.monotonic() < deadline and streak < 20:
            try:
                answer = client.predict(["ok"])
                streak = streak + 1 if answer.model.precision == precision else 0
            except (httpx.HTTPError, ServeError, ValueError):
                streak = 0
            time.sleep(0.1)
    if streak < 20:
        raise OperationFailed(f"the serve zone did not switch to {precision} in {timeout_s:.0f} s")


def run_bench(platform: Platform, out: Path, systems: set[str]) -> BenchReport:
    """Every chosen stack in turn on the same champion bundle; writes bench.json and .png."""
    reporter = platform.reporter
    started, started_at = time.monotonic(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    target = serve_target(platform)
    champion = platform.status().champion_version
    if not champion:
        raise BadInput("no champion to benchmark; run `make up` (or `bulkhead train`)")
    out.mkdir(parents=True, exist_ok=True)
    texts_file = request_texts(platform, out)
    bundle = download_champion(platform, champion, out / "bundle")
    reporter.info(f"bench {platform.settings.model_name} v{champion} on {machine()}")
    limits = in_process_limits(platform, bundle, read_texts(texts_file))
    results: list[SystemFigures] = []
    if "fastapi" in systems:
        results.append(fastapi_figures(platform, bundle, out, texts_file))
    if "mlflow" in systems:
        results.append(mlflow_figures(platform, bundle, out, texts_file))
    if "bulkhead" in systems:
        results.extend(bulkhead_figures(platform, target, out, texts_file))
    report = add_ratios(
        BenchReport(
            machine=machine(),
            model=f"{platform.settings.model_name} v{champion}",
            started_at=started_at,
            duration_s=round(time.monotonic() - started, 1),
            in_process=limits,
            systems=results,
        )
    )
    (out / "bench.json").write_text(report.model_dump_json(indent=2))
    plot(report, out / "bench.png")
    return report


def in_process_limits(platform: Platform, bundle: Path, texts: list[str]) -> list[Any]:
    """The model alone, no server: the ceiling every stack is compared with."""
    limits = []
    for precision in PRECISIONS:
        for batch in (1, 8):
            with platform.reporter.step(f"in-process {precision} batch {batch}"):
                figures = inprocess.measure(bundle, texts, precision=precision, batch_size=batch)
            limits.append(figures)
            platform.reporter.info(
                f"  in-process {precision} batch {batch}: p50 {figures.p50_ms} ms, "
                f"{figures.texts_per_s} texts/s"
            )
    return limits


def fastapi_figures(platform: Platform, bundle: Path, out: Path, texts: Path) -> SystemFigures:
    port = free_port()
    command = [sys.executable, "-m", "loadtests.bench.fastapi_server"]
    command += ["--bundle", str(bundle), "--port", str(port)]
    name = "FastAPI + uvicorn"
    health = f"http://127.0.0.1:{port}/health"
    with ServerProcess(name, command, health, out / "fastapi.log"):
        target = LoadTarget(base_url=f"http://127.0.0.1:{port}")
        return measure_system(platform, name, "fp32", target, "fastapi", out, texts)


def mlflow_figures(platform: Platform, bundle: Path, out: Path, texts: Path) -> SystemFigures:
    from loadtests.bench.mlflow_model import save

    model_dir = out / "mlflow-model"
    if not model_dir.exists():
        save(bundle, model_dir)
    port = free_port()
    mlflow_bin = str(Path(sys.executable).parent / "mlflow")
    command = [mlflow_bin, "models", "serve", "-m", str(model_dir), "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    name = "mlflow models serve"
    with ServerProcess(name, command, f"http://127.0.0.1:{port}/ping", out / "mlflow.log"):
        target = LoadTarget(base_url=f"http://127.0.0.1:{port}")
        return measure_system(platform, name, "fp32", target, "mlflow", out, texts)


def bulkhead_figures(
    platform: Platform, target: LoadTarget, out: Path, texts: Path
) -> list[SystemFigures]:
    """The serve zone at each precision (reconfigured in place), then the user's config back."""
    results = []
    try:
        for precision in PRECISIONS:
            deploy(platform, SERVE_CONFIG, {"precision": precision})
            wait_for_precision(platform, precision)
            results.append(
                measure_system(platform, "Bulkhead", precision, target, "bulkhead", out, texts)
            )
    finally:
        deploy(platform, SERVE_CONFIG)
    return results
