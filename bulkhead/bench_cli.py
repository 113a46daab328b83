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

import httpx
import typer
from rich.console import Console
from rich.table import Table

from bulkhead.loadtest_cli import request_texts, run_with_progress, serve_target
from bulkhead.platform import Platform
from bulkhead.serve_cli import deploy
from loadtests.bench import inprocess
from loadtests.bench.report import BenchReport, SystemFigures, add_ratios, plot
from loadtests.bench.servers import ServerProcess, free_port
from loadtests.profiles import get_profile
from loadtests.runner import BENCH_LOCUSTFILE, LoadTarget
from loadtests.texts import read_texts

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
            extra_env={"BULKHEAD_BENCH_TARGET": kind},
        )
        legs[profile_name] = summary.overall
        platform.console.print(
            f"  {name} {precision} {profile.description} → {summary.overall.rps:.1f} req/s, "
            f"p50 {summary.overall.p50_ms} ms, p99 {summary.overall.p99_ms} ms, "
            f"{summary.overall.failures} failed"
        )
    return SystemFigures(
        system=name, precision=precision, one_user=legs["latency"], eight_users=legs["throughput"]
    )


def wait_for_precision(target: LoadTarget, precision: str, timeout_s: float = 120.0) -> None:
    """Serve reconfigures replicas in place; wait until several answers in a row report it."""
    assert target.api_key_file
    headers = {"Authorization": f"Bearer {target.api_key_file.read_text().strip()}"}
    deadline, streak = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline and streak < 20:
        try:
            body = httpx.post(
                f"{target.base_url}/v1/predict", json={"texts": ["ok"]}, headers=headers, timeout=5
            ).json()
            streak = streak + 1 if body.get("model", {}).get("precision") == precision else 0
        except (httpx.HTTPError, ValueError):
            streak = 0
        time.sleep(0.1)
    if streak < 20:
        raise RuntimeError(f"the serve zone did not switch to {precision} in {timeout_s:.0f} s")


def run_bench(platform: Platform, out: Path, systems: set[str]) -> BenchReport:
    console = platform.console
    started, started_at = time.monotonic(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    target = serve_target(platform)
    status = platform.status()
    if not status.champion_version:
        console.print("[red]no champion to benchmark; run `make up` (or `bulkhead train`)[/]")
        raise typer.Exit(3)
    out.mkdir(parents=True, exist_ok=True)
    texts_file = request_texts(platform, out)
    texts = read_texts(texts_file)
    bundle = download_champion(platform, status.champion_version, out / "bundle")
    console.print(
        f"[bold]bench[/] {platform.settings.model_name} v{status.champion_version} on {machine()}"
    )

    limits = []
    for precision in PRECISIONS:
        for batch in (1, 8):
            with console.status(f"in-process {precision} batch {batch}…"):
                figures = inprocess.measure(bundle, texts, precision=precision, batch_size=batch)
            limits.append(figures)
            console.print(
                f"  in-process {precision} batch {batch}: p50 {figures.p50_ms} ms, "
                f"{figures.texts_per_s} texts/s"
            )

    results: list[SystemFigures] = []
    if "fastapi" in systems:
        port = free_port()
        with ServerProcess(
            "FastAPI + uvicorn",
            [
                sys.executable,
                "-m",
                "loadtests.bench.fastapi_server",
                "--bundle",
                str(bundle),
                "--port",
                str(port),
            ],
            f"http://127.0.0.1:{port}/health",
            out / "fastapi.log",
        ):
            results.append(
                measure_system(
                    platform,
                    "FastAPI + uvicorn",
                    "fp32",
                    LoadTarget(base_url=f"http://127.0.0.1:{port}"),
                    "fastapi",
                    out,
                    texts_file,
                )
            )
    if "mlflow" in systems:
        from loadtests.bench.mlflow_model import save

        model_dir = out / "mlflow-model"
        if not model_dir.exists():
            save(bundle, model_dir)
        port = free_port()
        mlflow_bin = str(Path(sys.executable).parent / "mlflow")
        with ServerProcess(
            "mlflow models serve",
            [
                mlflow_bin,
                "models",
                "serve",
                "-m",
                str(model_dir),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            f"http://127.0.0.1:{port}/ping",
            out / "mlflow.log",
        ):
            results.append(
                measure_system(
                    platform,
                    "mlflow models serve",
                    "fp32",
                    LoadTarget(base_url=f"http://127.0.0.1:{port}"),
                    "mlflow",
                    out,
                    texts_file,
                )
            )
    if "bulkhead" in systems:
        try:
            for precision in PRECISIONS:
                deploy(platform, SERVE_CONFIG, {"precision": precision}, show_usage=False)
                wait_for_precision(target, precision)
                results.append(
                    measure_system(
                        platform, "Bulkhead", precision, target, "bulkhead", out, texts_file
                    )
                )
        finally:
            deploy(platform, SERVE_CONFIG, show_usage=False)

    report = add_ratios(
        BenchReport(
            machine=machine(),
            model=f"{platform.settings.model_name} v{status.champion_version}",
            started_at=started_at,
            duration_s=round(time.monotonic() - started, 1),
            in_process=limits,
            systems=results,
        )
    )
    (out / "bench.json").write_text(report.model_dump_json(indent=2))
    plot(report, out / "bench.png")
    # Wide enough for every column even when the output is not a terminal (rich assumes 80).
    wide = Console(stderr=True, width=max(console.width, 150))
    wide.print(bench_table(report))
    wide.print(targets_table(report))
    console.print(f"report: {out}/bench.json, {out}/bench.png")
    return report


def bench_table(report: BenchReport) -> Table:
    table = Table(title=f"bench: {report.model} on {report.machine}")
    for column in (
        "stack",
        "precision",
        "1 user p50",
        "1 user p99",
        "overhead",
        "8 users RPS",
        "8 users p99",
        "failed",
        "÷ in-process",
        "÷ mlflow",
        "÷ FastAPI",
    ):
        table.add_column(column, justify="left" if column in {"stack", "precision"} else "right")

    def f(v: float | None, unit: str = "") -> str:
        return "—" if v is None else f"{v:.2f}{unit}" if unit == "x" else f"{v:.1f}{unit}"

    for limit in report.in_process:
        table.add_row(
            f"in-process (batch {limit.batch_size})",
            limit.precision,
            f(limit.p50_ms),
            f(limit.p99_ms),
            "",
            f(limit.texts_per_s) + " texts/s",
            "",
            "",
            "",
            "",
            "",
        )
    for s in report.systems:
        table.add_row(
            s.system,
            s.precision,
            f(s.one_user.p50_ms),
            f(s.one_user.p99_ms),
            f(s.overhead_ms, " ms"),
            f(s.eight_users.rps),
            f(s.eight_users.p99_ms),
            str(s.one_user.failures + s.eight_users.failures),
            f(s.rps_vs_inprocess, "x"),
            f(s.rps_vs_mlflow, "x"),
            f(s.rps_vs_fastapi, "x"),
        )
    return table


def targets_table(report: BenchReport) -> Table:
    table = Table(title="DESIGN §8 targets")
    for column in ("target", "wanted", "measured", "verdict"):
        table.add_column(column)
    for t in report.targets:
        table.add_row(t.name, t.wanted, t.measured, "[green]met[/]" if t.met else "[red]not met[/]")
    return table
