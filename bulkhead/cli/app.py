"""The ``bulkhead`` command: parse options, call the platform or an operation, render.

Commands hold no logic of their own: the work lives in ``bulkhead.platform``,
``bulkhead.operations`` and ``bulkhead.harness``, which return typed results and raise
``OperationError``s; this module turns those into tables, JSON and exit codes (one table of
them, ``bulkhead/cli/exit_codes.py``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from bulkhead.cli import render
from bulkhead.cli.choices import Preset, Profile, Scenario, Stack
from bulkhead.cli.common import JsonOption, ModelOption, console
from bulkhead.cli.common import exits as _exits
from bulkhead.cli.common import platform as _platform
from bulkhead.cli.exit_codes import ExitCode
from bulkhead.cli.keys import app as keys_app
from bulkhead.cli.rollout import rollout_app
from bulkhead.cli.signing import app as signing_app
from bulkhead.harness.countdown import Countdown
from bulkhead.operations.errors import NotRunning
from bulkhead.platform.core import Platform, PlatformError
from bulkhead.platform.status import status_json

if TYPE_CHECKING:
    from bulkhead.operations.deploy import Deployment

app = typer.Typer(
    help="Bulkhead: train on one Ray cluster, serve from another, meet only at the registry.",
    no_args_is_help=True,
)
app.add_typer(rollout_app, name="rollout")
app.add_typer(keys_app, name="keys")
app.add_typer(signing_app, name="signing")


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        print(f"bulkhead {version('bulkhead')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Bulkhead: train on one Ray cluster, serve from another, meet only at the registry."""


def _emit(as_json: bool, payload: Callable[[], str]) -> None:
    if as_json:
        print(payload())


@app.command()
def up(
    pipeline: Annotated[
        bool,
        typer.Option(
            "--pipeline/--no-pipeline",
            help="After the services, for every configured model: ingest its bundled data set, "
            "train (default preset), gate and promote, unless its champion was trained on that "
            "same snapshot; then deploy serve_config.yaml.",
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
    serve_nodes: Annotated[
        int | None,
        typer.Option(
            "--serve-nodes",
            min=1,
            max=4,
            help="Nodes of the serve zone's Ray cluster: the head and N-1 worker nodes, each "
            "with its own ingress, behind a front HAProxy on the serve port (default: what it "
            "runs with, else BULKHEAD_SERVE__NODES, 1).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start the registry and one Ray cluster per zone (idempotent), then run the pipeline."""
    platform = _platform()
    try:
        platform.up(isolate=isolate, tls=tls, serve_nodes=serve_nodes)
    except PlatformError as err:
        console.print(f"[red]bulkhead up failed:[/] {escape(str(err))}")
        raise typer.Exit(ExitCode.FAILED) from err
    if pipeline:
        from bulkhead.operations.pipeline import run_pipeline

        def first_answer(deployment: Deployment, still_to_train: list[str]) -> None:
            if as_json:
                return
            render.deployment(console, deployment)
            if still_to_train:
                console.print(
                    f"[bold]{platform.settings.default_model} answers now[/]; training "
                    f"{', '.join(still_to_train)} next (their replicas load each champion "
                    "as soon as it is promoted, and answer 503 with the reason until then)"
                )

        with _exits():
            run_pipeline(platform, Path("serve_config.yaml"), _platform, first_answer)
    status = platform.status()
    if as_json:
        print(status_json(status))
    else:
        render.print_status(console, status)


def _require_running(platform: Platform) -> None:
    """A command that reports on the running platform says so when nothing runs (exit 5),
    rather than printing the empty figures of nothing."""
    state = platform.load_state()
    if not state.zones and state.registry is None:
        raise NotRunning("the platform is not running; run `bulkhead up`")


@app.command()
def down(
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete .bulkhead/ (secrets, registry, data).")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --purge: do not ask first.")
    ] = False,
) -> None:
    """Stop exactly what `up` started, by process session; never other Ray clusters."""
    if purge and not yes:
        home = _platform().paths.home  # a path only: nothing read yet
        if not sys.stdin.isatty():
            console.print(f"[red]--purge deletes {home} for good; add --yes to confirm[/]")
            raise typer.Exit(ExitCode.BAD_INPUT)
        if not typer.confirm(f"Delete {home} (secrets, registry, data, models) for good?"):
            raise typer.Exit(ExitCode.BAD_INPUT)
    with _exits():
        stopped = _platform().down(purge=purge)
    console.print(f"stopped {stopped} service(s)")


@app.command()
def status(model: ModelOption = None, as_json: JsonOption = False) -> None:
    """Each zone, the registry, every model's champion and where the secrets are.

    --model's champion (default: the default model's) in detail."""
    result = _platform(model).status()
    if as_json:
        print(status_json(result))
    else:
        render.print_status(console, result)
    if not result.all_running:
        raise typer.Exit(ExitCode.NOT_RUNNING)


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
    dataset: Annotated[
        str | None,
        typer.Option(help="Bundled data set to read (default: the model's, see `up`)."),
    ] = None,
    from_feedback: Annotated[
        bool,
        typer.Option(
            "--from-feedback",
            help="The model's snapshot plus the texts clients sent labels for (POST "
            "/v1/feedback), read from the payload drop; the manifest records which.",
        ),
    ] = False,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Clean, de-duplicate and split a data set on the ingest cluster into a model's snapshot."""
    from bulkhead.operations.ingest import run_ingest

    with _exits():
        result = run_ingest(
            _platform(model),
            from_feedback=from_feedback,
            source=source,
            dataset=dataset,
            text_column=text_column,
            label_column=label_column,
            seed=seed,
            labels=label,
            log_to_registry=log_to_registry,
        )
    _emit(as_json, lambda: result.model_dump_json(indent=2))


@app.command()
def train(
    preset: Annotated[Preset, typer.Option(help="Training preset.")] = Preset.DEFAULT,
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
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune on the train cluster, evaluate, export ONNX, register, gate (and promote)."""
    from bulkhead.operations.train import run_train

    with _exits():
        result = run_train(
            _platform(model),
            preset=preset.value,
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
    _emit(as_json, lambda: result.model_dump_json(indent=2))
    if not result.gate.passed:
        raise typer.Exit(ExitCode.GATE_FAILED)


@app.command()
def deploy(
    config: Annotated[Path, typer.Argument(help="Serve config file.")] = Path("serve_config.yaml"),
    as_json: JsonOption = False,
) -> None:
    """`serve deploy` the config to the serve zone, wait until a replica serves, try it."""
    from bulkhead.operations.deploy import deploy as deploy_app

    with _exits():
        deployment = deploy_app(_platform(), config)
    if as_json:
        print(deployment.model_dump_json(indent=2))
        return
    render.deployment(console, deployment)


@app.command("bench-train")
def bench_train(
    examples: Annotated[int, typer.Option(help="Training examples per run.")] = 512,
    report: Annotated[Path, typer.Option(help="Folder for train-bench.json/png.")] = Path(
        "reports"
    ),
    as_json: JsonOption = False,
) -> None:
    """Ray Train throughput against a plain torch loop, same model and data, same node."""
    from bulkhead.operations.train import run_train_bench

    with _exits():
        result = run_train_bench(_platform(), examples, report)
    render.train_bench_report(console, result, report)
    _emit(as_json, lambda: result.model_dump_json(indent=2))


@app.command()
def loadtest(
    profile: Annotated[Profile, typer.Option(help="Load profile.")] = Profile.STEADY,
    report: Annotated[
        Path | None, typer.Option(help="Report folder (default reports/loadtest-PROFILE-TIME).")
    ] = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a staged Locust profile against the serve zone; write CSVs, summary.json, a plot."""
    from bulkhead.harness.loadtest import run_loadtest

    with _exits():
        summary = run_loadtest(_platform(model), profile.value, report)
    render.loadtest_report(console, summary, report or "reports/")
    _emit(as_json, lambda: summary.model_dump_json(indent=2))
    if summary.overall.failures:  # a script must not read a run with failed requests as a pass
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def bench(
    report: Annotated[
        Path | None, typer.Option(help="Report folder (default reports/bench-TIME).")
    ] = None,
    only: Annotated[
        list[Stack] | None,
        typer.Option(
            metavar="STACK",
            help=f"Repeatable: {', '.join(Stack)}; default all.",
        ),
    ] = None,
    platform_cost: Annotated[
        bool,
        typer.Option(
            help="Also measure the idle platform and the registry's cost per replica poll "
            "(with 1, 2 and 4 replicas): about 3 minutes more."
        ),
    ] = True,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """The champion in-process, on all cores, behind every peer and behind Bulkhead.

    With --model, that model's champion (Bulkhead measured at its own route)."""
    from bulkhead.harness.bench import SYSTEMS, run_bench

    chosen = {stack.value for stack in only} if only else set(SYSTEMS)
    unknown = chosen - set(SYSTEMS)
    if unknown:
        console.print(f"[red]unknown stack(s): {', '.join(sorted(unknown))}[/]")
        raise typer.Exit(ExitCode.BAD_INPUT)
    out = report or Path("reports") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    with _exits():
        result = run_bench(_platform(model), out, chosen, platform_cost=platform_cost)
    render.bench_report(console, result, out)
    _emit(as_json, lambda: result.model_dump_json(indent=2))


@app.command()
def cost(
    seconds: Annotated[float, typer.Option(help="Sampling window.", min=1, max=600)] = 30.0,
    as_json: JsonOption = False,
) -> None:
    """CPU and memory (PSS) of every service of the running platform, sampled while idle."""
    from bulkhead.harness.cost import measure

    platform = _platform()
    with _exits():
        _require_running(platform)
        result = measure(platform, seconds)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        console.print(render.cost_table(result))


@app.command()
def chaos(
    scenario: Annotated[
        list[Scenario] | None,
        typer.Option(
            metavar="SCENARIO",
            help=f"Repeatable: {', '.join(Scenario)}. Default all, in that order, but drift, "
            "which runs only when named (the feedback loop end to end, with a retraining: "
            "`make loop`).",
        ),
    ] = None,
    model: ModelOption = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Smoke run: steady windows of 2 s around each fault (not 5), shorter "
            "outages, rollout phases of 5 s (same sample minimums), shadow-cost one round of "
            "windows, model-scaling ends with its load step. Same goals; figures less steady.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Inject real faults into the running platform under load; exit 1 if a goal is missed.

    With --model, the load, the rollouts and the killed replicas are that model's."""
    from bulkhead.harness.chaos import NAMED_ONLY, SCENARIOS, context

    runnable = {**SCENARIOS, **NAMED_ONLY}
    chosen = [name.value for name in scenario] if scenario else list(SCENARIOS)
    unknown = [name for name in chosen if name not in runnable]
    if unknown:
        console.print(f"[red]unknown scenario(s): {', '.join(unknown)}[/]")
        raise typer.Exit(ExitCode.BAD_INPUT)
    ctx = context(_platform(model), model, quick=quick)
    results = []
    countdown = Countdown("chaos", len(chosen))
    for name in chosen:
        with console.status(f"[bold]{escape(countdown.next(name))}[/]…"):
            result = runnable[name](ctx)
        results.append(result)
        render.chaos_line(console, result)
    render.chaos_table(console, results)
    if as_json:
        print(json.dumps([r.model_dump() for r in results], indent=2))
    if any(r.verdict == "fail" for r in results):
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def monitor(
    since: Annotated[
        str | None,
        typer.Option(
            help="The window: records of the last D (90s, 5m, 1h) or since a moment "
            "(2026-12-07T10:05:00, UTC unless a zone is named); default the whole drop."
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Folder for report.json, drift.png and drift.prom (Prometheus text)."),
    ] = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drift of production from the champion's snapshot, and live accuracy per version.

    Drift of the logged predictions and inputs from the champion's snapshot, and live accuracy
    per version where feedback came back. Exit 6 when a statistic says drift (1: the monitor
    itself failed)."""
    from bulkhead.operations.monitor import parse_since, run_monitor

    with _exits():
        start = parse_since(since) if since is not None else None
        result, written = run_monitor(_platform(model), start, report)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        render.monitor_report(console, result)
        for path in written:
            console.print(f"wrote {path}")
    if result.verdict == "drift":
        raise typer.Exit(ExitCode.DRIFT)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why; recorded on the version.")] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Promote a version that failed the gate.")
    ] = False,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point the `champion` alias at VERSION (serving follows it)."""
    from bulkhead.operations import models as registry_ops

    with _exits():
        previous = registry_ops.promote(_platform(model), version, reason=reason, force=force)
    if as_json:
        print(json.dumps({"champion": version, "previous": previous}))
    else:
        console.print(f"[green]✓[/] champion: v{previous or '—'} → v{version}")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why; recorded on the version.")] = "rollback",
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move `champion` back to the previous champion."""
    from bulkhead.operations import models as registry_ops

    with _exits():
        current, target = registry_ops.rollback(_platform(model), reason)
    if as_json:
        print(json.dumps({"champion": target, "previous": current}))
    else:
        console.print(f"[green]✓[/] champion: v{current} → v{target}")


@app.command()
def models(model: ModelOption = None, as_json: JsonOption = False) -> None:
    """Every registered version with its metrics, aliases and gate result."""
    from bulkhead.operations import models as registry_ops

    with _exits():
        rows = registry_ops.versions(_platform(model))
    if as_json:
        print(json.dumps([row.model_dump() for row in rows], indent=2))
    else:
        console.print(render.models_table(rows))


@app.command()
def verify(
    model: Annotated[str, typer.Argument(help="Registered model.", metavar="MODEL")],
    version: Annotated[str, typer.Argument(help="Its version number.", metavar="VERSION")],
    as_json: JsonOption = False,
) -> None:
    """Print and check one version's provenance; exit 1 unless every link holds.

    Snapshot (digest, source) -> training run -> bundle (every file's digest) -> signature
    (verified against the files with the platform's keys) -> what the serve zone answers with."""
    from bulkhead.operations.verify import verify_version

    with _exits():
        result = verify_version(_platform(model), version)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        render.provenance(console, result)
    if not result.holds:
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def certs(
    force: Annotated[
        bool, typer.Option("--force", help="Replace the CA and every certificate.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create (once) the platform CA and a certificate per service for `up --tls`."""
    from bulkhead.platform import tls

    with _exits():
        platform = _platform()
        files = tls.ensure(platform.settings, platform.paths, force=force)
    if as_json:
        print(files.model_dump_json(indent=2))
        return
    console.print(render.certs_table(files))


@app.command("check-isolation")
def check_isolation(as_json: JsonOption = False) -> None:
    """Audit the platform's listening sockets and secret files; exit 1 on anything forbidden.

    Every listening socket of the platform's processes and every secret file's mode; under
    `up --isolate`, also every zone's ports probed from every network namespace."""
    from bulkhead.security.audit import audit, audit_secrets
    from bulkhead.security.reachability import check

    with _exits():
        platform = _platform()
        # Nothing running means nothing was checked: never "holds" with no sockets seen.
        _require_running(platform)
        state = platform.load_state()
        sockets = audit(state)
        secrets = audit_secrets(platform.paths, state.identities)
        matrix = check(state.isolation, platform.settings) if state.isolation else None
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
        render.isolation_report(
            console, sockets, secrets, matrix, state.identities is not None, holds
        )
    if not holds:
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def manifests(
    check: Annotated[
        bool, typer.Option("--check", help="Only report whether deploy/ is current; exit 1 if not.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Render deploy/kuberay/ray-service.serve.yaml from serve_config.yaml."""
    from bulkhead.render import manifests as rendering

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
        raise typer.Exit(ExitCode.FAILED)


def main() -> None:
    """``python -m bulkhead`` and the console script."""
    from bulkhead.platform.services import NO_PHONING_HOME

    for name, value in NO_PHONING_HOME.items():  # the operator's MLflow client too
        os.environ.setdefault(name, value)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    main()
