"""``bulkhead loadtest``: a staged Locust profile against the running serve zone, with a report."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bulkhead.platform import Platform
from bulkhead.settings import Zone
from loadtests.profiles import LoadProfile, get_profile
from loadtests.runner import LoadTarget, LocustFailed, run_locust
from loadtests.summary import LoadTestSummary
from loadtests.texts import latest_snapshot, texts_from_snapshot, write_texts


def serve_target(platform: Platform) -> LoadTarget:
    """The running serve zone's URL, API key file and dashboard; exits 3 when it is down."""
    state = platform.load_state()
    zone = state.zones.get(Zone.SERVE)
    if zone is None:
        platform.console.print("[red]the serve zone is not running; run `bulkhead up`[/]")
        raise typer.Exit(3)
    settings = platform.settings
    return LoadTarget(
        base_url=settings.serve_url,
        api_key_file=platform.paths.serve_api_key,
        model_name=settings.model_name,
        dashboard_url=zone.dashboard_url,
        ray_token_file=zone.token_file,
    )


def request_texts(platform: Platform, out: Path) -> Path:
    snapshot = latest_snapshot(platform.paths.snapshots)
    if snapshot is None:
        platform.console.print(
            "[red]no dataset snapshot to draw texts from; run `bulkhead ingest`[/]"
        )
        raise typer.Exit(3)
    return write_texts(texts_from_snapshot(snapshot), out / "texts.jsonl")


def run_with_progress(
    platform: Platform,
    profile: LoadProfile,
    target: LoadTarget,
    out: Path,
    texts: Path,
    **kw: object,
) -> LoadTestSummary:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeElapsedColumn(),
        console=platform.console,
        transient=True,
    ) as progress:
        task = progress.add_task(profile.name, total=profile.total_s)

        def tick(elapsed: float) -> None:
            stage = profile.stage_at(elapsed)
            label = f"{profile.name}: {stage.name}" if stage else f"{profile.name}: stopping"
            progress.update(task, completed=min(elapsed, profile.total_s), description=label)

        try:
            return run_locust(profile, target, out, texts, on_tick=tick, **kw)  # type: ignore[arg-type]
        except LocustFailed as err:
            platform.console.print(f"[red]load test failed:[/] {escape(str(err))}")
            raise typer.Exit(1) from None


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


def run_loadtest(platform: Platform, profile_name: str, report: Path | None) -> LoadTestSummary:
    try:
        profile = get_profile(profile_name)
    except KeyError as err:
        platform.console.print(f"[red]{escape(str(err.args[0]))}[/]")
        raise typer.Exit(2) from None
    target = serve_target(platform)
    out = report or Path("reports") / f"loadtest-{profile.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    texts = request_texts(platform, out)
    platform.console.print(
        f"[bold]load test[/] {profile.name}: {profile.description} ({profile.total_s:.0f} s)"
    )
    summary = run_with_progress(platform, profile, target, out, texts)
    console = platform.console
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
    return summary
