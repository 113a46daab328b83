"""``bulkhead rollout``: shadow, canary and automatic promotion or abort of a new version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape

from bulkhead.cli.common import JsonOption, ModelOption, console, exits, platform
from bulkhead.cli.exit_codes import ExitCode
from bulkhead.platform.core import Platform

rollout_app = typer.Typer(
    help="Progressive delivery: shadow → canary steps → champion, aborted automatically "
    "when the candidate is worse than the champion on live traffic.",
    no_args_is_help=True,
)

UrlsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metrics-url",
        help="Prometheus endpoint(s) of the serve zone (default: the local serve zone's).",
    ),
]
ReportOption = Annotated[
    Path | None, typer.Option(help="Report folder (default reports/rollout-ID).")
]


@rollout_app.command("start")
def start(
    version: Annotated[str, typer.Argument(help="The candidate version.")],
    shadow_for: Annotated[str, typer.Option(help="Shadow-only time (0 skips shadow).")] = "60s",
    steps: Annotated[str, typer.Option(help="Canary weights in percent.")] = "5,25,50,100",
    step_for: Annotated[str, typer.Option(help="Minimum time per canary step.")] = "60s",
    max_error_rate: Annotated[
        float, typer.Option(help="Candidate error rate allowed above the champion's.")
    ] = 0.01,
    max_p99_ratio: Annotated[
        float, typer.Option(help="Candidate p99 model latency / the champion's, at most.")
    ] = 1.5,
    p99_slack_ms: Annotated[
        float, typer.Option(help="p99 differences below this many ms never abort.")
    ] = 1.0,
    min_agreement: Annotated[
        float, typer.Option(help="Share of mirrored texts both versions label alike.")
    ] = 0.9,
    min_requests: Annotated[
        int,
        typer.Option(help="Samples (calls, mirrored texts) a phase needs to advance or abort."),
    ] = 100,
    shadow_sample: Annotated[
        float, typer.Option(help="Share of requests mirrored to the candidate.")
    ] = 1.0,
    reason: Annotated[str, typer.Option(help="Why; recorded with the rollout.")] = "",
    watch: Annotated[
        bool, typer.Option("--watch", help="Run the controller here until the rollout ends.")
    ] = False,
    metrics_url: UrlsOption = None,
    report: ReportOption = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start rolling VERSION out against the champion (replicas follow within seconds)."""
    from bulkhead.operations import rollout as ops
    from contracts.rollout import RolloutPolicy

    with exits():
        try:
            policy = RolloutPolicy(
                shadow_for_s=ops.parse_duration(shadow_for),
                steps=[int(s) for s in steps.split(",") if s.strip()],
                step_for_s=ops.parse_duration(step_for),
                max_error_rate=max_error_rate,
                max_p99_ratio=max_p99_ratio,
                p99_slack_ms=p99_slack_ms,
                min_agreement=min_agreement,
                min_requests=min_requests,
                shadow_sample=shadow_sample,
            )
        except (ValidationError, ValueError) as err:
            console.print(f"[red]invalid rollout policy:[/]\n{escape(str(err))}")
            raise typer.Exit(ExitCode.BAD_INPUT) from err
        running = platform(model)
        state = ops.start(running, version, policy, reason)
    console.print(
        f"[green]✓[/] rollout {state.id}: v{state.candidate} against v{state.champion}, "
        f"{state.phase} {state.weight}%"
    )
    if watch:
        _watch(running, report, metrics_url, as_json)
    elif as_json:
        print(state.model_dump_json(indent=2))


@rollout_app.command("status")
def status(model: ModelOption = None, as_json: JsonOption = False) -> None:
    """The rollout in the registry and every decision taken on it."""
    from bulkhead.cli import render
    from bulkhead.operations import rollout as ops

    with exits():
        found = ops.status(platform(model))
    if as_json:
        print(found.model_dump_json(indent=2))
    else:
        render.rollout_status(console, found)


@rollout_app.command("abort")
def abort(
    reason: Annotated[str, typer.Option(help="Why; recorded with the rollout.")] = "aborted",
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """All traffic back on the champion (replicas drop the candidate within a poll)."""
    from bulkhead.operations import rollout as ops

    with exits():
        state = ops.abort(platform(model), reason)
    if as_json:
        print(state.model_dump_json(indent=2))
    else:
        console.print(f"[green]✓[/] rollout {state.id} aborted: {reason}")


@rollout_app.command("watch")
def watch(
    metrics_url: UrlsOption = None,
    report: ReportOption = None,
    forever: Annotated[
        bool,
        typer.Option(
            "--forever", help="Keep watching: drive every rollout that starts (what `up` runs)."
        ),
    ] = False,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the controller until the current rollout completes or aborts."""
    from bulkhead.operations import rollout as ops

    if forever:
        ops.watch_forever(
            platform(model), echo=lambda line: print(line, flush=True), urls=metrics_url
        )
        return
    _watch(platform(model), report, metrics_url, as_json)


def _watch(running: Platform, report: Path | None, urls: list[str] | None, as_json: bool) -> None:
    from bulkhead.operations import rollout as ops

    with exits():
        result, folder = ops.watch(
            running,
            report,
            echo=lambda line: console.print(escape(line)),
            urls=urls,
        )
    state = result.state
    if folder is not None:
        console.print(f"report: {folder}/rollout.json, plot: {folder}/rollout.png")
    if as_json:
        print(json.dumps({"report": str(folder) if folder else None, **result.model_dump()}))
    if state is None:
        console.print("no rollout")
        return
    console.print(f"rollout {state.id}: {state.phase} ({state.reason})")
    if state.phase == "aborted":
        raise typer.Exit(ExitCode.FAILED)
