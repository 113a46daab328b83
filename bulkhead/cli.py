"""The ``bulkhead`` command: control the local platform and run each zone's work."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bulkhead.platform import Platform, PlatformError, PlatformStatus, status_json
from bulkhead.probe import REFUSED
from bulkhead.reachability import Matrix
from bulkhead.settings import PlatformSettings

app = typer.Typer(
    help="Bulkhead: train on one Ray cluster, serve from another, meet only at the registry.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _settings() -> PlatformSettings:
    try:
        return PlatformSettings()
    except ValidationError as err:
        console.print(f"[red]invalid BULKHEAD_* settings:[/]\n{escape(str(err))}")
        raise typer.Exit(2) from err


def _platform() -> Platform:
    return Platform(_settings(), console=console)


def _print_status(status: PlatformStatus) -> None:
    table = Table(title="Bulkhead platform", show_lines=False)
    table.add_column("component")
    table.add_column("address")
    table.add_column("state")
    table.add_row("registry (MLflow)", status.mlflow_url, status.registry_state)
    for name, zone in status.zones.items():
        table.add_row(f"{name} zone (Ray)", zone.address, zone.state)
    console.print(table)
    console.print(f"model: [bold]{status.model_name}[/] champion: {status.champion_version or '—'}")
    console.print(f"serve URL: {status.serve_url}   API key file: {status.api_key_file}")
    if status.latest_snapshot:
        console.print(f"latest dataset snapshot: {status.latest_snapshot}")
    serving = status.serving
    if serving is not None and serving.unreachable:
        console.print(f"serving: [yellow]{escape(serving.unreachable)}[/]")
    elif serving is not None:
        console.print(f"serving: v{serving.version or '—'} ({serving.precision or 'no model'})")
        for version, reason in serving.refused.items():
            console.print(f"  [red]refused v{version}:[/] {escape(reason)}")
        if serving.last_error and not serving.refused:
            console.print(f"  [yellow]last poll:[/] {escape(serving.last_error)}")
    modes = [m for m, on in (("TLS", status.tls), ("network namespaces", status.isolated)) if on]
    if status.identities:
        modes.insert(0, f"one Unix user per service ({', '.join(status.identities.values())})")
    else:
        modes.insert(0, "[yellow]one shared Unix user (not started as root)[/]")
    console.print(f"security: {' + '.join(modes)}")


@app.command()
def up(
    pipeline: Annotated[
        bool,
        typer.Option(
            "--pipeline/--no-pipeline",
            help="After the services: ingest the bundled data set, train (default preset), "
            "gate and promote, unless the champion was trained on that same snapshot.",
        ),
    ] = True,
    isolate: Annotated[
        bool,
        typer.Option(
            "--isolate",
            help="Linux, root: run the registry and each zone in its own network namespace; "
            "zones reach only the registry (check with `bulkhead check-isolation`).",
        ),
    ] = False,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Ray mutual TLS in every zone, the registry over HTTPS and the Serve proxy over "
            "HTTPS, with the CA of `bulkhead certs` (created when missing).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Start the registry and one Ray cluster per zone (idempotent), then run the pipeline."""
    platform = _platform()
    try:
        platform.up(isolate=isolate, tls=tls)
    except PlatformError as err:
        console.print(f"[red]bulkhead up failed:[/] {escape(str(err))}")
        raise typer.Exit(1) from err
    if pipeline:
        from bulkhead.ingest_cli import run_ingest
        from bulkhead.train_cli import train_unless_current

        snapshot = run_ingest(platform, source=None, text_column=None, label_column=None, seed=None)
        train_unless_current(platform, Path(snapshot.snapshot), snapshot.digest)
        from bulkhead.serve_cli import deploy as deploy_app

        deploy_app(platform, Path("serve_config.yaml"))
    status = platform.status()
    if as_json:
        print(status_json(status))
    else:
        _print_status(status)


@app.command()
def down(
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete .bulkhead/ (secrets, registry, data).")
    ] = False,
) -> None:
    """Stop exactly what `up` started, by process session; never other Ray clusters."""
    stopped = _platform().down(purge=purge)
    console.print(f"stopped {stopped} service(s)")


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Show each zone, the registry, the champion model and where the secrets are."""
    result = _platform().status()
    if as_json:
        print(status_json(result))
    else:
        _print_status(result)
    if not result.all_running:
        raise typer.Exit(3)


@app.command()
def ingest(
    source: Annotated[
        Path | None,
        typer.Argument(help="CSV/Parquet/JSONL file; omit for the bundled Rotten Tomatoes set."),
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="Column with the text (default `text`).")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Column with the label (default `label`).")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="Keep only this label (repeatable).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Split seed (default 42).")] = None,
    log_to_registry: Annotated[
        bool,
        typer.Option(
            "--log-to-registry/--no-log-to-registry",
            help="Record the snapshot as dataset inputs of an MLflow run.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Clean, de-duplicate and split a data set on the ingest cluster into a snapshot."""
    from bulkhead.ingest_cli import run_ingest

    result = run_ingest(
        _platform(),
        source=source,
        text_column=text_column,
        label_column=label_column,
        seed=seed,
        labels=label,
        log_to_registry=log_to_registry,
    )
    if as_json:
        print(result.model_dump_json(indent=2))


@app.command()
def train(
    preset: Annotated[str, typer.Option(help="tiny | default | full.")] = "default",
    config: Annotated[
        Path | None, typer.Option(help="YAML/JSON file of TrainConfig fields over the preset.")
    ] = None,
    snapshot: Annotated[
        Path | None, typer.Option(help="Dataset snapshot folder (default: the latest).")
    ] = None,
    num_workers: Annotated[int | None, typer.Option(help="Ray Train workers.")] = None,
    use_gpu: Annotated[
        bool | None, typer.Option("--use-gpu/--no-gpu", help="One GPU per worker.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs.")] = None,
    max_train_examples: Annotated[
        int | None, typer.Option(help="Subsample of the train split.")
    ] = None,
    checkpoint_every_steps: Annotated[
        int | None, typer.Option(help="Also checkpoint every N steps.")
    ] = None,
    auto_promote: Annotated[
        bool,
        typer.Option(
            "--auto-promote/--no-auto-promote",
            help="Move `champion` when the gate passes and the version beats the champion.",
        ),
    ] = True,
    inject_fault: Annotated[
        str | None,
        typer.Option(
            hidden=True,
            help="Reliability tests only: the job dies after-register or after-gate.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune on the train cluster, evaluate, export ONNX, register, gate (and promote)."""
    from bulkhead.train_cli import run_train

    result = run_train(
        _platform(),
        preset=preset,
        config_file=config,
        overrides={
            "num_workers": num_workers,
            "use_gpu": use_gpu,
            "epochs": epochs,
            "max_train_examples": max_train_examples,
            "checkpoint_every_steps": checkpoint_every_steps,
        },
        snapshot=snapshot,
        auto_promote=auto_promote,
        inject_fault=inject_fault,
    )
    if as_json:
        print(result.model_dump_json(indent=2))
    if not result.gate.passed:
        from training.job import EXIT_GATE_FAILED

        raise typer.Exit(EXIT_GATE_FAILED)


@app.command()
def deploy(
    config: Annotated[Path, typer.Argument(help="Serve config file.")] = Path("serve_config.yaml"),
    as_json: JsonOption = False,
) -> None:
    """`serve deploy` the config to the serve zone, wait until a replica serves, try it."""
    from bulkhead.serve_cli import deploy as deploy_app

    body = deploy_app(_platform(), config)
    if as_json:
        print(json.dumps(body, indent=2))


@app.command("bench-train")
def bench_train(
    examples: Annotated[int, typer.Option(help="Training examples per run.")] = 512,
    report: Annotated[Path, typer.Option(help="Folder for train-bench.json/png.")] = Path(
        "reports"
    ),
    as_json: JsonOption = False,
) -> None:
    """Ray Train throughput against a plain torch loop, same model and data, same node."""
    from bulkhead.train_cli import run_train_bench

    result = run_train_bench(_platform(), examples, report)
    if as_json:
        print(result.model_dump_json(indent=2))


@app.command()
def loadtest(
    profile: Annotated[
        str, typer.Option(help="smoke | steady | step | spike | latency | throughput.")
    ] = "steady",
    report: Annotated[
        Path | None, typer.Option(help="Report folder (default reports/loadtest-PROFILE-TIME).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a staged Locust profile against the serve zone; write CSVs, summary.json, a plot."""
    from bulkhead.loadtest_cli import run_loadtest

    summary = run_loadtest(_platform(), profile, report)
    if as_json:
        print(summary.model_dump_json(indent=2))


@app.command()
def bench(
    report: Annotated[
        Path | None, typer.Option(help="Report folder (default reports/bench-TIME).")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="Stacks to run (fastapi, mlflow, bulkhead); default all."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Champion bundle in-process, behind FastAPI, `mlflow models serve` and Bulkhead; compared."""
    from bulkhead.bench_cli import run_bench

    chosen = set(only or ["fastapi", "mlflow", "bulkhead"])
    unknown = chosen - {"fastapi", "mlflow", "bulkhead"}
    if unknown:
        console.print(f"[red]unknown stack(s): {', '.join(sorted(unknown))}[/]")
        raise typer.Exit(2)
    out = report or Path("reports") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    result = run_bench(_platform(), out, chosen)
    if as_json:
        print(result.model_dump_json(indent=2))


@app.command()
def chaos(
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            help="hostile-input, overload, registry-outage, replica-crash, ingress-crash; "
            "default all, in that order."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Inject real faults into the running platform under load; exit 1 if a goal is missed."""
    from bulkhead.chaos import SCENARIOS, context

    chosen = scenario or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        console.print(f"[red]unknown scenario(s): {', '.join(unknown)}[/]")
        raise typer.Exit(2)
    platform = _platform()
    ctx = context(platform)
    results = []
    for name in chosen:
        with console.status(f"[bold]chaos: {name}[/]…"):
            result = SCENARIOS[name](ctx)
        results.append(result)
        mark = {"pass": "[green]✓[/]", "skipped": "[yellow]-[/]"}.get(result.verdict, "[red]✗[/]")
        console.print(
            f"{mark} {name}: {result.requests} requests, {result.failed} failed "
            f"({result.http_errors} HTTP, {result.connection_errors} connection), "
            f"recovery {result.recovery_s} s — {escape(result.detail)}"
        )
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
    if as_json:
        print(json.dumps([r.model_dump() for r in results], indent=2))
    if any(r.verdict == "fail" for r in results):
        raise typer.Exit(1)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why; recorded on the version.")] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Promote a version that failed the gate.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Point the `champion` alias at VERSION (serving follows it)."""
    from bulkhead.train_cli import registry_writer
    from registry.writer import PromotionRefused

    writer = registry_writer(_platform())
    try:
        previous = writer.promote(version, reason=reason, force=force)
    except PromotionRefused as err:
        console.print(f"[red]promote refused:[/] {escape(str(err))}")
        raise typer.Exit(4) from err
    if as_json:
        print(json.dumps({"champion": version, "previous": previous}))
    else:
        console.print(f"[green]✓[/] champion: v{previous or '—'} → v{version}")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why; recorded on the version.")] = "rollback",
    as_json: JsonOption = False,
) -> None:
    """Move `champion` back to the previous champion."""
    from bulkhead.train_cli import registry_writer
    from registry.writer import PromotionRefused

    writer = registry_writer(_platform())
    try:
        current, target = writer.rollback(reason)
    except PromotionRefused as err:
        console.print(f"[red]rollback refused:[/] {escape(str(err))}")
        raise typer.Exit(4) from err
    if as_json:
        print(json.dumps({"champion": target, "previous": current}))
    else:
        console.print(f"[green]✓[/] champion: v{current} → v{target}")


@app.command()
def models(as_json: JsonOption = False) -> None:
    """Every registered version with its metrics, aliases and gate result."""
    from bulkhead.train_cli import models_table, registry_writer

    rows = registry_writer(_platform()).versions()
    if as_json:
        print(json.dumps([row.model_dump() for row in rows], indent=2))
    else:
        console.print(models_table(rows))


@app.command()
def certs(
    force: Annotated[
        bool, typer.Option("--force", help="Replace the CA and every certificate.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create (once) the platform CA and a certificate per service for `up --tls`."""
    from bulkhead import tls

    platform = _platform()
    files = tls.ensure(platform.settings, platform.paths, force=force)
    if as_json:
        print(files.model_dump_json(indent=2))
        return
    table = Table(title=f"TLS certificates (CA: {files.ca_cert})")
    for column in ("service", "certificate", "valid until", "names"):
        table.add_column(column)
    for cert in [*files.services.values(), *files.ray.values()]:
        table.add_row(cert.name, str(cert.cert), cert.not_after[:10], ", ".join(cert.sans))
    console.print(table)


@app.command("check-isolation")
def check_isolation(as_json: JsonOption = False) -> None:
    """Audit every listening socket of the platform's processes and every secret file's mode;
    under `up --isolate`, also probe every zone's ports from every network namespace. Exit 1
    on anything the design forbids."""
    from bulkhead.audit import audit, audit_secrets
    from bulkhead.reachability import check

    platform = _platform()
    state = platform.load_state()
    sockets = audit(state)
    secrets = audit_secrets(platform.paths, state.identities)
    matrix = check(state.isolation, platform.settings) if state.isolation is not None else None
    forbidden = [s for s in sockets if not s.allowed]
    unsafe = [f for f in secrets if not f.ok]
    holds = not forbidden and not unsafe and (matrix is None or matrix.holds)
    if as_json:
        report = {
            "holds": holds,
            "sockets": [s.model_dump() for s in sockets],
            "secrets": [f.model_dump() for f in secrets],
            "isolated": matrix is not None,
            **(matrix.model_dump(mode="json") if matrix is not None else {}),
        }
        print(json.dumps(report, indent=2))
    else:
        table = Table(title="Listening sockets of the platform's processes")
        for column in ("service", "process", "address", "port", "verdict"):
            table.add_column(column)
        for row in sockets:
            verdict = f"[green]{row.why}[/]" if row.allowed else f"[red]✗ {row.why}[/]"
            table.add_row(row.service, row.process, row.address, str(row.port), verdict)
        console.print(table)
        console.print(
            f"secrets: {len(secrets) - len(unsafe)}/{len(secrets)} readable by their owner alone"
            + (
                f" ({len({f.owner for f in secrets})} identities)"
                if state.identities
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
    if not holds:
        raise typer.Exit(1)


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


@app.command()
def manifests(
    check: Annotated[
        bool, typer.Option("--check", help="Only report whether deploy/ is current; exit 1 if not.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Render deploy/kuberay/ray-service.serve.yaml from serve_config.yaml."""
    from bulkhead import manifests as rendering

    target = rendering.RAY_SERVICE
    if check:
        current = rendering.is_current()
        changed = False
    else:
        changed = rendering.write()
        current = True
    if as_json:
        print(json.dumps({"file": str(target), "current": current, "changed": changed}))
    elif not current:
        console.print(
            f"[red]✗[/] {target} differs from serve_config.yaml: run `bulkhead manifests`"
        )
    else:
        console.print(f"[green]✓[/] {target} {'rewritten' if changed else 'is current'}")
    if not current:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console script indirection for `python -m bulkhead`
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
