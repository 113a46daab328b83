"""``bulkhead bench``: the champion bundle behind every stack a user might pick, one at a time.

First the machine's limits (the model alone: one stream, then one single-thread process per
core at batch 1 and batched); then a hand-written FastAPI server, ``mlflow models serve``,
KServe, MLServer, BentoML and stock Ray Serve (each in its own environment, see
``loadtests/bench/peers.py``) and Bulkhead's own serve zone (fp32 and int8) each get the same
Locust profiles (1 client, then 8 clients, one text per request, warm-up excluded). Only one
server takes load at any time; the serve zone stays up but idle while the peers run.
"""

from __future__ import annotations

import os
import platform as host
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field

from bulkhead.harness import cost, registry_cost
from bulkhead.harness.bench_markdown import bench_markdown
from bulkhead.harness.countdown import Countdown
from bulkhead.harness.loadtest import request_texts, run_with_progress, serve_target
from bulkhead.operations.deploy import deploy
from bulkhead.operations.errors import BadInput, OperationFailed
from bulkhead.platform.core import Platform
from contracts import env
from contracts.serve_api import bearer
from loadtests.bench import inprocess, peers
from loadtests.bench.report import (
    BenchReport,
    SystemFigures,
    Target,
    Unavailable,
    add_ratios,
    plot,
)
from loadtests.bench.servers import ServerProcess, free_port
from loadtests.profiles import get_profile
from loadtests.runner import BENCH_LOCUSTFILE, LoadTarget
from loadtests.texts import read_texts
from serving.client import ServeClient, ServeError

# This phase's goals for the idle platform (two models, everything `up` starts).
MAX_IDLE_CPU_PCT = 8.0
MAX_IDLE_PSS_MB = 3000.0
MAX_POLL_CPU_MS = 10.0
PRECISIONS = ("fp32", "int8")
SERVE_CONFIG = Path("serve_config.yaml")
# (batch size, grouped by token length): random batches pad to their longest text; batches of
# texts of similar length show what length-grouped batching could add.
ALL_CORE_BATCHES = ((1, False), (8, False), (16, False), (4, True), (8, True))
SYSTEMS = ("null", "fastapi", "mlflow", *peers.PEERS, "bulkhead")


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
    return reader.download(reader.pinned(platform.model_name, version), destination)


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
    # (leg, profile, a new connection per request): one client on a new connection is what
    # urllib, requests.post without a session or curl in a loop send.
    for leg, profile_name, fresh in (
        ("latency", "latency", False),
        ("latency-new-connection", "latency", True),
        ("throughput", "throughput", False),
    ):
        profile = get_profile(profile_name)
        folder = out / f"{kind}-{precision}" / leg
        summary = run_with_progress(
            platform,
            profile,
            target,
            folder,
            texts,
            locustfile=BENCH_LOCUSTFILE,
            extra_env={env.BENCH_TARGET: kind, env.BENCH_NEW_CONNECTION: "1" if fresh else "0"},
        )
        legs[leg] = summary.overall
        how = ", a new connection per request" if fresh else ""
        platform.reporter.info(
            f"  {name} {precision} {profile.description}{how} → {summary.overall.rps:.1f} "
            f"req/s, p50 {summary.overall.p50_ms} ms, p99 {summary.overall.p99_ms} ms, "
            f"{summary.overall.failures} failed"
        )
    return SystemFigures(
        system=name,
        precision=precision,
        one_user=legs["latency"],
        eight_users=legs["throughput"],
        one_user_new_connection=legs["latency-new-connection"],
    )


class PlatformBenchReport(BenchReport):
    """The serving figures plus what the platform costs while it waits."""

    idle: cost.PlatformCost | None = None
    registry_polls: list[registry_cost.PollCost] = Field(default_factory=list)
    registry_scaling: registry_cost.RegistryScaling | None = None


def cost_targets(report: PlatformBenchReport) -> list[Target]:
    targets = []
    if report.idle is not None:
        cpu, pss = report.idle.cpu_machine_pct, report.idle.pss_mb
        targets.append(
            Target(
                name="idle platform: CPU",
                wanted=f"≤ {MAX_IDLE_CPU_PCT:.0f} % of the machine",
                measured=f"{cpu} %",
                met=cpu <= MAX_IDLE_CPU_PCT,
            )
        )
        targets.append(
            Target(
                name="idle platform: memory (PSS)",
                wanted=f"≤ {MAX_IDLE_PSS_MB / 1000:.1f} GB",
                measured=f"{pss / 1000:.2f} GB",
                met=pss <= MAX_IDLE_PSS_MB,
            )
        )
    scaling = report.registry_scaling
    if scaling is not None:
        per_poll = scaling.cpu_ms_per_poll
        targets.append(
            Target(
                name="registry CPU per replica poll (fit over 1, 2, 4 replicas)",
                wanted=f"≤ {MAX_POLL_CPU_MS:.0f} ms",
                measured=f"{per_poll:.1f} ms",
                met=0 <= per_poll <= MAX_POLL_CPU_MS,
            )
        )
        first, last = scaling.loads[0], scaling.loads[-1]
        growth = last.registry_core_pct / first.registry_core_pct if first.registry_core_pct else 0
        linear = last.replicas / first.replicas
        targets.append(
            Target(
                name=f"registry CPU, {last.replicas} replicas ÷ {first.replicas}",
                wanted=f"≤ {linear:.0f}x (a poll costs no more as replicas are added)",
                measured=f"{growth:.2f}x" if growth else "—",
                met=0 < growth <= linear,
            )
        )
    expired = next((p for p in report.registry_polls if "fresh" in p.way), None)
    if expired is not None:
        targets.append(
            Target(
                name="registry CPU per poll, answer looked up afresh",
                wanted=f"≤ {MAX_POLL_CPU_MS:.0f} ms",
                measured=f"{expired.cpu_ms_per_poll:.1f} ms",
                met=expired.cpu_ms_per_poll <= MAX_POLL_CPU_MS,
            )
        )
    return targets


def bundle_precisions(bundle: Path) -> tuple[tuple[str, ...], str]:
    """The precisions the champion bundle ships, and why int8 is absent when it is: the
    trainer drops its int8 copy when it loses more accuracy than the limit allows, and a bench
    that waited for the serve zone to switch to a copy it does not have would fail after
    twenty minutes with no report."""
    from contracts.bundle import MANIFEST, BundleManifest

    manifest = BundleManifest.model_validate_json((bundle / MANIFEST).read_text())
    if manifest.has_int8:
        return PRECISIONS, ""
    return ("fp32",), (
        "the champion ships no int8 copy (the trainer drops it when it loses more accuracy "
        "than the training config's int8_max_accuracy_drop allows; see the version's "
        "int8_accuracy metric)"
    )


def wait_for_precision(platform: Platform, precision: str, timeout_s: float = 120.0) -> None:
    """Serve reconfigures replicas in place; wait until several answers in a row report it."""
    deadline, streak = time.monotonic() + timeout_s, 0
    model = platform.model_name  # its /v1/models/{model}/predict, default one too
    with ServeClient(platform.serve_endpoint(), timeout_s=5, model=model) as client:
        while time.monotonic() < deadline and streak < 20:
            try:
                answer = client.predict(["ok"])
                streak = streak + 1 if answer.model.precision == precision else 0
            except (httpx.HTTPError, ServeError, ValueError):
                streak = 0
            time.sleep(0.1)
    if streak < 20:
        raise OperationFailed(f"the serve zone did not switch to {precision} in {timeout_s:.0f} s")


def run_bench(
    platform: Platform, out: Path, systems: set[str], *, platform_cost: bool = True
) -> PlatformBenchReport:
    """Every chosen stack in turn on the same champion bundle, then (``platform_cost``) what
    the idle platform and the replicas' polls cost; writes bench.json and bench.png."""
    reporter = platform.reporter
    started, started_at = time.monotonic(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    target = serve_target(platform)
    champion = platform.status().champion_version
    if not champion:
        raise BadInput("no champion to benchmark; run `make up` (or `bulkhead train`)")
    out.mkdir(parents=True, exist_ok=True)
    texts_file = request_texts(platform, out)
    bundle = download_champion(platform, champion, out / "bundle")
    reporter.info(f"bench {platform.model_name} v{champion} on {machine()}")
    texts = read_texts(texts_file)
    precisions, no_int8 = bundle_precisions(bundle)
    legs = ["the machine's limits", *(name for name in SYSTEMS if name in systems)]
    countdown = Countdown("bench", len(legs) + (1 if platform_cost else 0))
    reporter.info(countdown.next(legs[0]))
    limits = in_process_limits(platform, bundle, texts, precisions)
    all_cores = all_core_limits(platform, bundle, texts, precisions)
    results: list[SystemFigures] = []
    floor: list[SystemFigures] = []
    unavailable: list[Unavailable] = []
    if no_int8:
        unavailable.append(
            Unavailable(system="Bulkhead int8 (and in-process int8)", reason=no_int8)
        )
        reporter.info(f"  int8 not run: {no_int8}")
    if "null" in systems:
        reporter.info(countdown.next("null"))
        floor = null_floor_figures(platform, out, texts_file)
    if "fastapi" in systems:
        reporter.info(countdown.next("fastapi"))
        results.append(fastapi_figures(platform, bundle, out, texts_file))
    if "mlflow" in systems:
        reporter.info(countdown.next("mlflow"))
        results.append(mlflow_figures(platform, bundle, out, texts_file))
    for key, peer in peers.PEERS.items():
        if key in systems:
            reporter.info(countdown.next(key))
            try:
                results.append(peer_figures(platform, peer, bundle, out, texts_file))
            except (RuntimeError, OSError) as err:
                reason = str(err).strip().splitlines()
                unavailable.append(Unavailable(system=peer.name, reason=" ".join(reason[-3:])))
                reporter.info(f"  {peer.name} not run: {unavailable[-1].reason}")
    hops: dict[str, float] = {}
    if "bulkhead" in systems:
        reporter.info(countdown.next("bulkhead"))
        ours, hops, not_run = bulkhead_figures(platform, target, out, texts_file, precisions)
        results.extend(ours)
        unavailable.extend(not_run)
    idle, polls, scaling = None, [], None
    if platform_cost:
        reporter.info(countdown.next("the idle platform and the registry's cost per poll"))
        # The serve zone was just reconfigured back to the user's config: let the replicas
        # finish loading (registry downloads, warm-up) before calling anything idle.
        with platform.reporter.step("letting the platform settle for 30 s"):
            time.sleep(30)
        with platform.reporter.step("the idle platform: CPU and memory for 30 s"):
            idle = cost.measure(platform, 30.0)
        reporter.info(f"  idle: {idle.cpu_machine_pct} % of the machine, {idle.pss_mb:.0f} MB")
        polls = registry_cost.poll_cost(platform)
        for poll in polls:
            reporter.info(f"  {poll.way}: {poll.cpu_ms_per_poll} ms of registry CPU per call")
        scaling = registry_cost.registry_scaling(platform, SERVE_CONFIG)
    report = add_ratios(
        PlatformBenchReport(
            machine=machine(),
            model=f"{platform.model_name} v{champion}",
            started_at=started_at,
            duration_s=round(time.monotonic() - started, 1),
            in_process=limits,
            all_cores=all_cores,
            systems=results,
            floor=floor,
            unavailable=unavailable,
            hops=hops,
            idle=idle,
            registry_polls=polls,
            registry_scaling=scaling,
        )
    )
    report.targets.extend(cost_targets(report))
    (out / "bench.json").write_text(report.model_dump_json(indent=2))
    (out / "bench.md").write_text(bench_markdown(report))
    plot(report, out / "bench.png")
    return report


def in_process_limits(
    platform: Platform, bundle: Path, texts: list[str], precisions: tuple[str, ...] = PRECISIONS
) -> list[Any]:
    """The model alone in one stream, no server: the floor under one client's latency, with
    onnxruntime's default threads and with Bulkhead's (one per core, spinning only while a
    call runs); the faster of the two is the floor."""
    limits = []
    for precision in precisions:
        for threads in (0, os.cpu_count() or 1):
            label = "default threads" if threads == 0 else f"{threads} threads"
            with platform.reporter.step(f"in-process {precision}, one stream, {label}"):
                figures = inprocess.measure(bundle, texts, precision=precision, threads=threads)
            limits.append(figures)
            platform.reporter.info(
                f"  in-process {precision} one stream ({label}): p50 {figures.p50_ms} ms, "
                f"{figures.texts_per_s} texts/s"
            )
    return limits


def all_core_limits(
    platform: Platform, bundle: Path, texts: list[str], precisions: tuple[str, ...] = PRECISIONS
) -> list[inprocess.AllCoreFigures]:
    """The model alone on every core (one single-thread process each): the throughput ceiling
    at batch 1, and what batching could add on top of it (random batches, and batches of
    texts of similar length)."""
    limits = []
    for precision in precisions:
        for batch, grouped in ALL_CORE_BATCHES:
            label = f"batch {batch}" + (", grouped by length" if grouped else "")
            with platform.reporter.step(f"in-process {precision}, all cores, {label}"):
                figures = inprocess.measure_all_cores(
                    bundle, texts, precision=precision, batch_size=batch, grouped=grouped
                )
            limits.append(figures)
            platform.reporter.info(
                f"  {figures.processes} processes {precision} {label}: "
                f"{figures.texts_per_s} texts/s, p99 {figures.p99_ms} ms"
            )
    return limits


def peer_figures(
    platform: Platform, peer: peers.Peer, bundle: Path, out: Path, texts: Path
) -> SystemFigures:
    """Install the peer's environment if needed, start it as its users would, measure it."""
    with platform.reporter.step(f"{peer.name}: environment"):
        python = peers.environment_python(platform.paths.home, peer, platform.reporter.info)
    port = free_port()
    workers = os.cpu_count() or 1
    model = platform.model_name
    workdir = (out / peer.key).resolve()
    launch = peers.launch(peer, python, bundle.resolve(), port, workers, workdir, model)
    platform.reporter.info(f"  {peer.name}: {peer.settings}")
    with launch.server(peer.name, out / f"{peer.key}.log"):
        target = LoadTarget(base_url=f"http://127.0.0.1:{port}", model_name=model)
        return measure_system(platform, peer.name, "fp32", target, peer.key, out, texts)


def fastapi_figures(platform: Platform, bundle: Path, out: Path, texts: Path) -> SystemFigures:
    port = free_port()
    command = [sys.executable, "-m", "loadtests.bench.fastapi_server"]
    command += ["--bundle", str(bundle), "--port", str(port)]
    name = "FastAPI + uvicorn"
    health = f"http://127.0.0.1:{port}/health"
    with ServerProcess(name, command, health, out / "fastapi.log"):
        target = LoadTarget(base_url=f"http://127.0.0.1:{port}")
        return measure_system(platform, name, "fp32", target, "fastapi", out, texts)


def null_floor_figures(platform: Platform, out: Path, texts: Path) -> list[SystemFigures]:
    """The floor: a null server (no model; loadtests/bench/null_server.py) directly, then
    behind one HAProxy (the ingress's binary, one thread): the same Locust legs as every
    stack, so what the client, kernel and HTTP plumbing cost is visible beside them."""
    from bulkhead.platform.haproxy_wrapper import haproxy_binary
    from loadtests.bench.null_server import haproxy_config

    port = free_port()
    command = [sys.executable, "-m", "loadtests.bench.null_server", "--port", str(port)]
    figures = []
    with ServerProcess("null server", command, f"http://127.0.0.1:{port}/health", out / "null.log"):
        direct = LoadTarget(base_url=f"http://127.0.0.1:{port}")
        figures.append(
            measure_system(platform, "null server (no model)", "direct", direct, "null", out, texts)
        )
        front = free_port()
        cfg = out / "null-haproxy.cfg"  # the operator's report folder: no zone writes there
        cfg.write_text(haproxy_config(front, port))
        haproxy = [str(haproxy_binary()), "-db", "-f", str(cfg)]
        health = f"http://127.0.0.1:{front}/health"
        with ServerProcess("HAProxy", haproxy, health, out / "null-haproxy.log"):
            behind = LoadTarget(base_url=f"http://127.0.0.1:{front}")
            figures.append(
                measure_system(
                    platform, "null server behind HAProxy", "haproxy", behind, "null", out, texts
                )
            )
    return figures


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


def hop_breakdown(platform: Platform, target: LoadTarget) -> dict[str, float]:
    """Median milliseconds per hop of one client's requests through the serve zone."""
    from loadtests.bench.hops_probe import measure_hops

    headers = {}
    if target.api_key_file is not None:
        headers = bearer(target.api_key_file.read_text().strip())
    verify: str | bool = str(target.ca_file) if target.ca_file else True
    with platform.reporter.step("Bulkhead fp32: where one request's time goes"):
        return measure_hops(target.base_url, headers, verify, path=target.predict_path)


def bulkhead_figures(
    platform: Platform,
    target: LoadTarget,
    out: Path,
    texts: Path,
    precisions: tuple[str, ...] = PRECISIONS,
) -> tuple[list[SystemFigures], dict[str, float], list[Unavailable]]:
    """The serve zone at each precision (reconfigured in place), then the user's config back;
    and the per-hop split of one client's requests at fp32. A precision the zone never
    switched to is reported as not run, with why, and the rest of the report still comes out."""
    results, hops, not_run = [], {}, []
    try:
        for precision in precisions:
            deploy(platform, SERVE_CONFIG, {"precision": precision})
            try:
                wait_for_precision(platform, precision)
            except OperationFailed as err:
                not_run.append(Unavailable(system=f"Bulkhead {precision}", reason=str(err)))
                platform.reporter.info(f"  Bulkhead {precision} not run: {err}")
                continue
            if precision == "fp32":
                hops = hop_breakdown(platform, target)
            results.append(
                measure_system(platform, "Bulkhead", precision, target, "bulkhead", out, texts)
            )
    finally:
        deploy(platform, SERVE_CONFIG)
    return results, hops, not_run
