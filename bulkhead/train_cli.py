"""``bulkhead train|promote|rollback|models``: the train zone and the registry's aliases."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from bulkhead.jobs import run_module_job
from bulkhead.platform import Platform
from bulkhead.settings import Zone
from bulkhead.state import ZoneState
from ingestion.snapshot import SnapshotError, verify
from registry.tags import MANIFEST_DIGEST_TAG
from training.config import load_config
from training.job import TrainJobSpec, TrainResult, encode_spec

TRAIN_TIMEOUT_S = 3600.0


def code_version(root: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def train_spec(
    platform: Platform,
    preset: str,
    config_file: Path | None,
    overrides: dict[str, Any],
    snapshot: Path | None,
    auto_promote: bool,
    inject_fault: str | None = None,
) -> tuple[TrainJobSpec, ZoneState, int]:
    """Validate config and snapshot and find the train zone; returns (spec, zone, rows)."""
    console = platform.console
    try:
        config = load_config(preset, config_file, overrides)
    except (ValueError, OSError) as err:
        console.print(f"[red]train: invalid configuration:[/] {escape(str(err))}")
        raise typer.Exit(2) from err
    state = platform.load_state()
    chosen = snapshot or state.latest_snapshot
    if chosen is None:
        console.print("[red]train: no dataset snapshot; run `bulkhead ingest` first[/]")
        raise typer.Exit(2)
    try:
        manifest = verify(chosen)
    except (SnapshotError, FileNotFoundError, ValueError) as err:
        console.print(f"[red]train: snapshot {chosen} is unusable:[/] {escape(str(err))}")
        raise typer.Exit(2) from err
    zone = state.zones.get(Zone.TRAIN)
    if zone is None:
        console.print("[red]train: the train zone is not running; run `bulkhead up`[/]")
        raise typer.Exit(3)
    spec = TrainJobSpec(
        config=config,
        snapshot=chosen.resolve(),
        ray_address=zone.gcs_address,
        storage_path=platform.paths.train_runs,
        model_name=platform.settings.model_name,
        experiment_name=platform.settings.experiment_name,
        auto_promote=auto_promote,
        code_version=code_version(Path.cwd()),
        inject_fault=inject_fault,
    )
    return spec, zone, manifest.total_rows


def run_train(
    platform: Platform,
    preset: str,
    config_file: Path | None,
    overrides: dict[str, Any],
    snapshot: Path | None,
    auto_promote: bool,
    inject_fault: str | None = None,
) -> TrainResult:
    console = platform.console
    spec, zone, rows = train_spec(
        platform, preset, config_file, overrides, snapshot, auto_promote, inject_fault
    )
    config = spec.config
    console.print(
        f"training preset [bold]{config.preset}[/] ({config.backbone}, "
        f"{config.max_train_examples or 'all'} examples, {config.epochs} epoch(s)) on snapshot "
        f"{spec.snapshot.name} ({rows} rows)"
    )
    outcome = run_module_job(
        console,
        zone,
        "training.job",
        encode_spec(spec),
        "train job on the train cluster",
        TRAIN_TIMEOUT_S,
    )
    if outcome.result is None:
        console.print(f"[red]train failed ({outcome.job_id}):[/] {escape(str(outcome.error))}")
        raise typer.Exit(1)
    result = TrainResult.model_validate(outcome.result)
    m = result.metrics
    console.print(
        f"version {result.version}: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
        f"parity {m['parity_max_abs_diff']:.1e}, p50 {m['latency_p50_ms']:.2f} ms "
        f"({result.seconds:.0f} s)"
    )
    if not result.gate.passed:
        console.print(
            f"[red]✗ gate failed:[/] {'; '.join(result.gate.reasons)} "
            f"(version {result.version} registered with its evidence, not aliased)"
        )
        return result
    verdict = "promoted to champion" if result.promoted else "challenger (champion kept)"
    champion = f"v{result.champion}" if result.champion else "not set"
    console.print(f"[green]✓[/] gate passed; {verdict}; champion is {champion}")
    return result


def registry_writer(platform: Platform) -> Any:
    """The writer as the `trainer` user: promotion is a train-side act, not an admin one."""
    from registry.writer import RegistryWriter

    platform.credentials("trainer").activate()
    return RegistryWriter(platform.settings.model_name)


def models_table(rows: list[Any]) -> Table:
    table = Table(title="Registered versions")
    for column in ("version", "aliases", "accuracy", "macro-F1", "parity", "p50 ms", "gate"):
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
        )
    return table


def run_train_bench(platform: Platform, examples: int, report: Path) -> Any:
    """Ray Train vs a plain loop on the train zone; prints the ratio and writes JSON + PNG."""
    from training.benchmark import TrainBenchResult

    console = platform.console
    spec, zone, _ = train_spec(
        platform, "default", None, {"max_train_examples": examples}, None, auto_promote=False
    )
    outcome = run_module_job(
        console,
        zone,
        "training.benchmark",
        encode_spec(spec),
        "training benchmark on the train cluster",
        TRAIN_TIMEOUT_S,
    )
    if outcome.result is None:
        console.print(f"[red]benchmark failed ({outcome.job_id}):[/] {escape(str(outcome.error))}")
        raise typer.Exit(1)
    result = TrainBenchResult.model_validate(outcome.result)
    report.mkdir(parents=True, exist_ok=True)
    (report / "train-bench.json").write_text(result.model_dump_json(indent=2))
    _plot_train_bench(result, report / "train-bench.png")
    table = Table(
        title=f"Training throughput, {result.examples} examples, {result.threads} threads"
    )
    for column in ("loop", "examples/s", "ratio"):
        table.add_column(column)
    table.add_row("plain torch loop", f"{result.plain_examples_per_s:.1f}", "1.00")
    table.add_row("Ray Train", f"{result.ray_train_examples_per_s:.1f}", f"{result.ratio:.2f}")
    console.print(table)
    console.print(f"goal ratio >= 0.90: {'met' if result.ratio >= 0.9 else 'NOT met'}; {report}")
    return result


def _plot_train_bench(result: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3))
    rates = [result.plain_examples_per_s, result.ray_train_examples_per_s]
    axes.bar(["plain torch loop", "Ray Train"], rates, color=["#888888", "#1f77b4"])
    axes.set_ylabel("examples / s")
    axes.set_title(f"Ray Train / plain = {result.ratio:.2f}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def train_unless_current(platform: Platform, snapshot: Path, digest: str) -> None:
    """`up`'s training step: skipped when the champion already comes from this snapshot."""
    writer = registry_writer(platform)
    champion = writer.alias_version("champion")
    tags = writer.tags(champion) if champion is not None else {}
    # A champion registered before versions were pinned to their manifest is not served:
    # retrain rather than leave `up` waiting on a model serving will refuse.
    if tags.get("dataset_digest") == digest and MANIFEST_DIGEST_TAG in tags:
        platform.console.print(
            f"[green]✓[/] champion v{champion} was trained on this snapshot; not retraining "
            "(`bulkhead train` retrains)"
        )
        return
    result = run_train(platform, "default", None, {}, snapshot, auto_promote=True)
    if not result.gate.passed:
        raise typer.Exit(3)
