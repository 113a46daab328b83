"""What the CLI draws: every table and status block, from typed results (rich only here)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bulkhead.harness.bench import PlatformBenchReport
from bulkhead.harness.chaos import ScenarioResult
from bulkhead.harness.cost import PlatformCost
from bulkhead.monitoring.report import MonitorReport
from bulkhead.operations.deploy import Deployment
from bulkhead.platform.status import PlatformStatus
from bulkhead.platform.tls import TlsFiles
from bulkhead.security.probe import REFUSED
from bulkhead.security.reachability import Matrix
from loadtests.bench.report import BenchReport
from loadtests.summary import LoadTestSummary
from training.schema import TrainBenchResult


def print_status(console: Console, status: PlatformStatus) -> None:
    table = Table(title="Bulkhead platform", show_lines=False)
    table.add_column("component")
    table.add_column("address")
    table.add_column("state")
    table.add_row("registry (MLflow)", status.mlflow_url, status.registry_state)
    for name, zone in status.zones.items():
        table.add_row(f"{name} zone (Ray)", zone.address, zone.state)
    if len(status.serve_nodes) > 1:  # a serve zone of several nodes behind the balancer
        for node in status.serve_nodes:
            check = f", balancer: {node.balancer_check or 'no check yet'}"
            table.add_row(f"  serve node {node.node} ingress", node.ingress, node.state + check)
        balancer = "running" if status.balancer_pid else "stopped"
        table.add_row("  front balancer (HAProxy)", status.serve_url, balancer)
    console.print(table)
    for name, champion in status.champions.items():
        default = " (default)" if name == status.default_model else ""
        snapshot = status.latest_snapshots.get(name)
        console.print(
            f"model: [bold]{name}[/]{default} champion: {champion or '—'}"
            + (f"   snapshot: {snapshot}" if snapshot else "")
        )
    used = [s for s in status.services if s.state != "not used"]
    if used:
        console.print("services: " + ", ".join(f"{s.name} {s.state}" for s in used))
    console.print(f"serve URL: {status.serve_url}   API key file: {status.api_key_file}")
    serving = status.serving
    if serving is not None and serving.unreachable:
        console.print(f"serving: [yellow]{escape(serving.unreachable)}[/]")
    elif serving is not None:
        signed = f", signed by key {serving.signed_by[:12]}" if serving.signed_by else ""
        console.print(
            f"serving: v{serving.version or '—'} ({serving.precision or 'no model'}{signed})"
        )
        for version, reason in serving.refused.items():
            console.print(f"  [red]refused v{version}:[/] {escape(reason)}")
        if serving.last_error and serving.last_error not in serving.refused.values():
            console.print(f"  [yellow]last poll:[/] {escape(serving.last_error)}")
    modes = [m for m, on in (("TLS", status.tls), ("network namespaces", status.isolated)) if on]
    if status.identities:
        modes.insert(0, f"one Unix user per service ({', '.join(status.identities.values())})")
    else:
        modes.insert(0, "[yellow]one shared Unix user (not started as root)[/]")
    console.print(f"security: {' + '.join(modes)}")
    pid = status.rollout_controller_pid
    console.print(f"rollout controller: {f'running (pid {pid})' if pid else 'stopped'}")
    drop = status.drop
    if drop is not None:
        if drop.state == "running":
            state = f"running (pid {drop.keeper_pid})"
        else:
            state = f"[yellow]{drop.state}[/]"
        if drop.restarts:
            state += f", restarted {drop.restarts}x"
        console.print(
            f"payload drop: {state}, {drop.records:,} records ({drop.bytes / 1e6:.1f} MB) in "
            f"{drop.records_dir}; refused {drop.refused}, dropped as full {drop.dropped_full}"
        )


def isolation_table(matrix: Matrix) -> Table:
    """Rows: the service a connection tried to reach; columns: where it came from."""
    sources = list(dict.fromkeys(probe.source for probe in matrix.probes))
    rows: dict[str, dict[str, str]] = {}
    for probe in matrix.probes:
        label = f"{probe.target.node.value} {probe.target.service}"
        colour = ("green" if probe.outcome != REFUSED else "yellow") if probe.ok else "red"
        flag = "" if probe.ok else (" ✗ must be cut" if not probe.allowed else " ✗ must open")
        rows.setdefault(label, {})[probe.source.value] = f"[{colour}]{probe.outcome}{flag}[/]"
    table = Table(title="TCP connect, from each namespace (column) to each service (row)")
    table.add_column("service")
    for source in sources:
        table.add_column(f"from {source.value}")
    for label, cells in rows.items():
        table.add_row(label, *(cells.get(source.value, "·") for source in sources))
    return table


def models_table(rows: list[Any]) -> Table:
    table = Table(title="Registered versions")
    columns = ("version", "aliases", "accuracy", "macro-F1", "parity", "p50 ms", "gate", "signer")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.version,
            ",".join(row.aliases) or "—",
            f"{row.accuracy:.4f}" if row.accuracy is not None else "—",
            f"{row.macro_f1:.4f}" if row.macro_f1 is not None else "—",
            f"{row.parity:.1e}" if row.parity is not None else "—",
            f"{row.latency_p50_ms:.2f}" if row.latency_p50_ms is not None else "—",
            row.gate,
            row.signature,
        )
    return table


def summary_table(summary: LoadTestSummary) -> Table:
    table = Table(title=f"load test {summary.profile} → {summary.target_url}")
    for column in ("stage", "users", "requests", "failed", "RPS", "p50", "p90", "p95", "p99"):
        table.add_column(column, justify="left" if column == "stage" else "right")

    def ms(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}"

    rows = [(s.stage, str(s.users), s) for s in summary.stages]
    rows.append(("all (after warm-up)", "", summary.overall))  # type: ignore[arg-type]
    for name, users, f in rows:
        table.add_row(
            name,
            users,
            str(f.requests),
            str(f.failures),
            f"{f.rps:.1f}",
            ms(f.p50_ms),
            ms(f.p90_ms),
            ms(f.p95_ms),
            ms(f.p99_ms),
        )
    return table


def bench_table(report: BenchReport) -> Table:
    table = Table(title=f"bench: {report.model} on {report.machine}")
    for column in (
        "stack",
        "precision",
        "1 client p50",
        "1 client p99",
        "over in-process",
        "8 clients RPS",
        "8 clients p99",
        "failed",
        "÷ all-core limit",
        "Bulkhead ÷ this",
        "1 client p50, new connection",
    ):
        table.add_column(column, justify="left" if column in {"stack", "precision"} else "right")

    def f(v: float | None, unit: str = "") -> str:
        return "—" if v is None else f"{v:.2f}{unit}" if unit == "x" else f"{v:.1f}{unit}"

    for single in report.in_process:
        table.add_row(
            "in-process, 1 stream, "
            + ("default threads" if single.threads == 0 else f"{single.threads} threads"),
            single.precision,
            f(single.p50_ms),
            f(single.p99_ms),
            *[""] * 7,
        )
    for limit in report.all_cores:
        table.add_row(
            f"in-process, {limit.processes} processes, batch {limit.batch_size}"
            + (", grouped by length" if limit.grouped else ""),
            limit.precision,
            "",
            "",
            "",
            f(limit.texts_per_s) + " texts/s",
            f(limit.p99_ms),
            *[""] * 4,
        )
    for s in [*report.floor, *report.systems]:
        fresh = s.one_user_new_connection
        table.add_row(
            s.system,
            s.precision,
            f(s.one_user.p50_ms),
            f(s.one_user.p99_ms),
            f(s.overhead_ms, " ms"),
            f(s.eight_users.rps),
            f(s.eight_users.p99_ms),
            str(s.one_user.failures + s.eight_users.failures),
            f(s.rps_vs_limit, "x"),
            f(s.bulkhead_vs_this, "x"),
            f(fresh.p50_ms if fresh is not None else None),
        )
    for missing in report.unavailable:
        table.add_row(missing.system, "", "not run: " + missing.reason[:80], *[""] * 8)
    return table


def hops_table(report: BenchReport) -> Table:
    table = Table(title="where one request's time goes (1 client, median ms)")
    table.add_column("hop")
    table.add_column("ms", justify="right")
    for hop, ms in report.hops.items():
        table.add_row(hop, f"{ms:.2f}")
    return table


def targets_table(report: BenchReport) -> Table:
    table = Table(title="goals (docs/performance.md)")
    for column in ("target", "wanted", "measured", "verdict"):
        table.add_column(column)
    for t in report.targets:
        table.add_row(t.name, t.wanted, t.measured, "[green]met[/]" if t.met else "[red]not met[/]")
    return table


def deployment(console: Console, deployment: Deployment) -> None:
    """The sample predictions and how to try the endpoint yourself."""
    sample = zip(deployment.sample_texts, deployment.sample.predictions, strict=False)
    for text, prediction in sample:
        console.print(f"  {text!r} → {prediction.label} ({prediction.score:.3f})")
    console.print(f"try it:\n  {deployment.curl}\n  API docs: {deployment.url}/docs")
    for model in deployment.models:
        version = f"v{model.version}" if model.version else "—"
        console.print(f"  model {model.name}: {model.state} {version}  POST {model.predict_url}")


def loadtest_report(console: Console, summary: LoadTestSummary, out: object) -> None:
    Console(stderr=True, width=max(console.width, 110)).print(summary_table(summary))
    versions = ", ".join(f"v{v}: {n}" for v, n in summary.versions_seen.items()) or "—"
    console.print(f"model versions seen: {versions}")
    if summary.max_replicas is not None:
        console.print(
            f"replicas: max {summary.max_replicas}; scale-up "
            f"{'—' if summary.scale_up_s is None else f'{summary.scale_up_s} s'} after the step, "
            f"scale-down {'—' if summary.scale_down_s is None else f'{summary.scale_down_s} s'} "
            "after it ended"
        )
    console.print(f"report: {out}/summary.json, {out}/loadtest.png, Locust CSVs in {out}/")


def platform_cost_table(report: PlatformBenchReport) -> Table:
    table = Table(title="what the platform costs while it waits")
    table.add_column("measure")
    table.add_column("value", justify="right")
    if report.idle is not None:
        for service in report.idle.services:
            table.add_row(
                f"idle: {service.service} ({service.processes} processes)",
                f"{service.cpu_core_pct} % of a core, {service.pss_mb:.0f} MB",
            )
        table.add_row(
            "idle: whole platform",
            f"{report.idle.cpu_machine_pct} % of the machine, {report.idle.pss_mb:.0f} MB",
        )
    for poll in report.registry_polls:
        table.add_row(f"one alias lookup: {poll.way}", f"{poll.cpu_ms_per_poll} ms registry CPU")
    if report.registry_scaling is not None:
        for load in report.registry_scaling.loads:
            table.add_row(
                f"registry while {load.replicas} replica(s) poll",
                f"{load.registry_core_pct} % of a core",
            )
        table.add_row(
            "registry CPU per replica poll (fit)",
            f"{report.registry_scaling.cpu_ms_per_poll} ms",
        )
    return table


def bench_report(console: Console, report: PlatformBenchReport, out: object) -> None:
    # Wide enough for every column even when the output is not a terminal (rich assumes 80).
    wide = Console(stderr=True, width=max(console.width, 150))
    wide.print(bench_table(report))
    if report.hops:
        wide.print(hops_table(report))
    if report.idle is not None or report.registry_scaling is not None:
        wide.print(platform_cost_table(report))
    wide.print(targets_table(report))
    console.print(f"report: {out}/bench.json, {out}/bench.png")


def train_bench_report(console: Console, result: TrainBenchResult, out: object) -> None:
    table = Table(
        title=f"Training throughput, {result.examples} examples, {result.threads} threads"
    )
    for column in ("loop", "examples/s", "ratio"):
        table.add_column(column)
    table.add_row("plain torch loop", f"{result.plain_examples_per_s:.1f}", "1.00")
    table.add_row("Ray Train", f"{result.ray_train_examples_per_s:.1f}", f"{result.ratio:.2f}")
    console.print(table)
    console.print(f"goal ratio >= 0.90: {'met' if result.ratio >= 0.9 else 'NOT met'}; {out}")


def chaos_line(console: Console, result: ScenarioResult) -> None:
    mark = {"pass": "[green]✓[/]", "skipped": "[yellow]-[/]"}.get(result.verdict, "[red]✗[/]")
    console.print(
        f"{mark} {result.scenario}: {result.requests} requests, {result.failed} failed "
        f"({result.http_errors} HTTP, {result.connection_errors} connection), "
        f"recovery {result.recovery_s} s — {escape(result.detail)}"
    )


def chaos_table(console: Console, results: list[ScenarioResult]) -> None:
    table = Table(title="chaos")
    for column in ("fault", "requests", "failed", "recovery (s)", "goal", "verdict"):
        table.add_column(column)
    for r in results:
        table.add_row(
            f"{r.scenario}: {r.fault}",
            str(r.requests),
            f"{r.failed} ({r.failed_pct}%)",
            "—" if r.recovery_s is None else str(r.recovery_s),
            r.goal,
            {"pass": "[green]pass[/]", "skipped": "[yellow]skipped[/]"}.get(
                r.verdict, "[red]fail[/]"
            ),
        )
    Console(stderr=True, width=max(console.width, 160)).print(table)


def certs_table(files: TlsFiles) -> Table:
    table = Table(title=f"TLS certificates (CA: {files.ca_cert})")
    for column in ("service", "certificate", "valid until", "names"):
        table.add_column(column)
    for cert in [*files.services.values(), *files.ray.values()]:
        table.add_row(cert.name, str(cert.cert), cert.not_after[:10], ", ".join(cert.sans))
    return table


def isolation_report(
    console: Console,
    sockets: list[Any],
    secrets: list[Any],
    matrix: Matrix | None,
    identities: bool,
    holds: bool,
) -> None:
    table = Table(title="Listening sockets of the platform's processes")
    for column in ("service", "process", "address", "port", "verdict"):
        table.add_column(column)
    for row in sockets:
        verdict = f"[green]{row.why}[/]" if row.allowed else f"[red]✗ {row.why}[/]"
        table.add_row(row.service, row.process, row.address, str(row.port), verdict)
    console.print(table)
    unsafe = [f for f in secrets if not f.ok]
    console.print(
        f"secrets: {len(secrets) - len(unsafe)}/{len(secrets)} readable by their owner alone"
        + (
            f" ({len({f.owner for f in secrets})} identities)"
            if identities
            else " (one shared identity: not root)"
        )
        + "".join(
            f"\n  [red]✗ {f.path} is {f.mode}, readable by {f.readable_by}[/]" for f in unsafe
        )
    )
    if matrix is not None:
        console.print(isolation_table(matrix))
    else:
        console.print("network namespaces: not in use (`bulkhead up --isolate` adds them)")
    console.print(f"isolation: {'[green]holds[/]' if holds else '[red]violated[/]'}")


def cost_table(cost: PlatformCost) -> Table:
    table = Table(title=f"idle platform over {cost.seconds:g} s ({cost.cores} cores)")
    for column in ("service", "processes", "CPU (% of a core)", "PSS (MB)"):
        table.add_column(column, justify="left" if column == "service" else "right")
    for s in cost.services:
        table.add_row(s.service, str(s.processes), f"{s.cpu_core_pct:.1f}", f"{s.pss_mb:.0f}")
    table.add_row(
        "[bold]all (% of the machine)[/]", "", f"{cost.cpu_machine_pct:.1f}", f"{cost.pss_mb:.0f}"
    )
    return table


def _figures(figures: Any) -> str:
    if figures is None:
        return "—"
    agreement = figures.agreement
    return (
        f"{figures.requests} req, {figures.error_rate:.1%} err, p99 "
        f"{'—' if figures.p99_ms is None else f'{figures.p99_ms:.1f} ms'}, agree "
        f"{'—' if agreement is None else f'{agreement:.0%}'} of {figures.mirrored}"
    )


def rollout_status(console: Console, found: Any) -> None:
    state = found.state
    if state is None:
        console.print("no rollout recorded for this model")
        return
    console.print(
        f"rollout [bold]{state.id}[/]: v{state.candidate} against champion v{state.champion}, "
        f"[bold]{state.phase}[/] {state.weight}%"
        f"{' — ' + escape(state.reason) if state.reason else ''}"
    )
    policy = state.policy
    console.print(
        f"policy: shadow {policy.shadow_for_s:g} s, steps {policy.steps} each "
        f"{policy.step_for_s:g} s, max error +{policy.max_error_rate:.1%}, "
        f"max p99 {policy.max_p99_ratio:g}x, "
        f"min agreement {policy.min_agreement:.0%}, min samples {policy.min_requests}"
    )
    table = Table(title="decisions")
    for column in ("time (UTC)", "decision", "phase", "weight", "champion", "candidate", "why"):
        table.add_column(column)
    import datetime as dt

    for event in found.events:
        table.add_row(
            dt.datetime.fromtimestamp(event.at, dt.UTC).strftime("%H:%M:%S"),
            event.decision,
            event.phase,
            f"{event.weight}%",
            _figures(event.champion),
            _figures(event.candidate),
            escape(event.reason),
        )
    console.print(table)


def monitor_report(console: Console, report: MonitorReport) -> None:
    table = Table(title=f"{report.model}: production against training")
    for column in ("statistic", "method", "value", "reference", "window", "verdict"):
        table.add_column(column)
    colours = {"drift": "red", "moderate": "yellow", "stable": "green"}
    for stat in report.statistics:
        value = "—" if stat.value is None else f"{stat.value:.3f}"
        colour = colours.get(stat.verdict, "dim")
        table.add_row(
            stat.name,
            stat.method.upper(),
            value,
            f"n={stat.reference_n} {_brief(stat.reference)}",
            f"n={stat.current_n} {_brief(stat.current)}",
            f"[{colour}]{stat.verdict}[/]",
        )
    console.print(table)
    for row in report.accuracy:
        shown = "—" if row.accuracy is None else f"{row.accuracy:.3f}"
        console.print(
            f"live accuracy v{row.version}: {shown} ({row.correct}/{row.labelled} with feedback)"
        )
    console.print(
        f"{report.predictions} logged texts, {report.feedback} feedback records in the window "
        f"({report.drop_files} drop files; reference {report.snapshot or 'none'}); "
        f"verdict: [bold]{report.verdict}[/]"
    )


def _brief(values: dict[str, float]) -> str:
    return " ".join(f"{k} {v:g}" for k, v in list(values.items())[:4])


def provenance(console: Console, found: Any) -> None:
    """``bulkhead verify``: one line per link, the failing one in red."""
    mark = {True: "[green]✓[/]", False: "[red]✗[/]"}
    snap = found.snapshot
    rows = ", ".join(f"{k} {v:,}" for k, v in snap.rows.items())
    console.print(f"[bold]{found.model} v{found.version}[/]")
    console.print(
        f"{mark[snap.found]} snapshot {str(snap.digest)[:12]}: "
        + (
            f"{escape(str(snap.source))} (sha256 {str(snap.source_sha256)[:12]}), "
            f"{snap.created_at}, {rows}"
            if snap.found
            else escape(str(snap.problem))
        )
    )
    run = found.training
    console.print(
        f"  training run {run.run_id}: code {run.code_version}, preset {run.preset}, "
        f"recorded accuracy {run.accuracy}, macro-F1 {run.macro_f1}"
    )
    console.print(
        f"  bundle: manifest {str(found.bundle.manifest_sha256)[:12]}, "
        f"{len(found.bundle.files)} files"
    )
    signature = found.signature
    figures = signature.signer_figures or {}
    measured = (
        f"; the signer measured accuracy {figures['accuracy']:.4f}" if "accuracy" in figures else ""
    )
    detail = f"key {signature.key_id[:12]}" if signature.key_id else escape(str(signature.reason))
    console.print(
        f"{mark[signature.state == 'verified']} signature {signature.state}: {detail}{measured}"
    )
    made = found.provenance
    console.print(
        f"{mark[made.state == 'verified']} provenance {made.state}: "
        + (
            f"built by {made.builder}, run {made.run_id}, from snapshot "
            f"{str(made.snapshot_digest)[:12]} of {escape(str(made.source))} "
            f"(sha256 {str(made.source_sha256)[:12]})"
            if made.state == "verified"
            else escape(str(made.problem))
        )
    )
    serving = found.serving
    loaded = (
        f", verified under key {serving.signed_by[:12]}, snapshot "
        f"{str(serving.snapshot_digest)[:12]}"
        if serving.signed_by
        else ""
    )
    served = (
        f"served now (v{serving.version_served}{loaded})"
        if serving.serves_this
        else f"not served (the serve zone answers with v{serving.version_served})"
        if serving.version_served
        else f"serve zone not answering: {escape(str(serving.problem))}"
    )
    console.print(f"  {served}")
