"""``bulkhead train`` and ``bench-train``: submit the train zone's jobs and report on them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bulkhead.operations.errors import BadInput, GateFailed, NotRunning, OperationFailed
from bulkhead.operations.models import registry_writer
from bulkhead.platform.core import Platform
from bulkhead.platform.jobs import run_module_job
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import ZoneState
from contracts.jobs import encode_spec
from contracts.snapshot import SnapshotError, verify
from contracts.tags import CHAMPION, DATASET_DIGEST_TAG, MANIFEST_DIGEST_TAG
from training.schema import TrainBenchResult, TrainJobSpec, TrainResult, load_config

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
    try:
        config = load_config(preset, config_file, overrides)
    except (ValueError, OSError) as err:
        raise BadInput(f"train: invalid configuration: {err}") from err
    state = platform.load_state()
    chosen = snapshot or state.latest_snapshots.get(platform.model_name)
    if chosen is None:
        model = platform.model_name
        raise BadInput(
            f"train: no dataset snapshot for {model}; run `bulkhead ingest --model {model}`"
        )
    try:
        manifest = verify(chosen)
    except (SnapshotError, FileNotFoundError, ValueError) as err:
        raise BadInput(f"train: snapshot {chosen} is unusable: {err}") from err
    zone = state.zones.get(Zone.TRAIN)
    if zone is None:
        raise NotRunning("train: the train zone is not running; run `bulkhead up`")
    spec = TrainJobSpec(
        config=config,
        snapshot=chosen.resolve(),
        ray_address=zone.gcs_address,
        storage_path=platform.paths.train_runs,
        model_name=platform.model_name,
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
    """Train, register and gate one version. A gate failure is a result, not an error: the
    version is registered with its evidence; the caller decides what that means."""
    reporter = platform.reporter
    spec, zone, rows = train_spec(
        platform, preset, config_file, overrides, snapshot, auto_promote, inject_fault
    )
    config = spec.config
    reporter.info(
        f"training preset {config.preset} ({config.backbone}, "
        f"{config.max_train_examples or 'all'} examples, {config.epochs} epoch(s)) on snapshot "
        f"{spec.snapshot.name} ({rows} rows)"
    )
    result = TrainResult.model_validate(
        _run_job(platform, zone, spec, "training.job", "train job on the train cluster", "train")
    )
    m = result.metrics
    reporter.info(
        f"version {result.version}: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
        f"parity {m['parity_max_abs_diff']:.1e}, p50 {m['latency_p50_ms']:.2f} ms "
        f"({result.seconds:.0f} s)"
    )
    if not result.gate.passed:
        reporter.fail(
            f"gate failed: {'; '.join(result.gate.reasons)} "
            f"(version {result.version} registered with its evidence, not aliased)"
        )
        return result
    verdict = "promoted to champion" if result.promoted else "challenger (champion kept)"
    champion = f"v{result.champion}" if result.champion else "not set"
    reporter.done(f"gate passed; {verdict}; champion is {champion}")
    return result


def train_unless_current(platform: Platform, snapshot: Path, digest: str) -> TrainResult | None:
    """`up`'s training step: skipped (None) when the champion already comes from this
    snapshot; a version that fails the gate stops `up` (nothing would be served)."""
    writer = registry_writer(platform)
    champion = writer.alias_version(CHAMPION)
    tags = writer.tags(champion) if champion is not None else {}
    # A champion registered before versions were pinned to their manifest is not served:
    # retrain rather than leave `up` waiting on a model serving will refuse.
    if tags.get(DATASET_DIGEST_TAG) == digest and MANIFEST_DIGEST_TAG in tags:
        platform.reporter.done(
            f"champion v{champion} was trained on this snapshot; not retraining "
            "(`bulkhead train` retrains)"
        )
        return None
    result = run_train(platform, "default", None, {}, snapshot, auto_promote=True)
    if not result.gate.passed:
        raise GateFailed(f"version {result.version} failed the gate; nothing to serve")
    return result


def run_train_bench(platform: Platform, examples: int, report: Path) -> TrainBenchResult:
    """Ray Train vs a plain loop on the train zone; writes train-bench.json and .png."""
    spec, zone, _ = train_spec(
        platform, "default", None, {"max_train_examples": examples}, None, auto_promote=False
    )
    result = TrainBenchResult.model_validate(
        _run_job(
            platform,
            zone,
            spec,
            "training.benchmark",
            "training benchmark on the train cluster",
            "benchmark",
        )
    )
    report.mkdir(parents=True, exist_ok=True)
    (report / "train-bench.json").write_text(result.model_dump_json(indent=2))
    _plot_train_bench(result, report / "train-bench.png")
    return result


def _run_job(
    platform: Platform, zone: ZoneState, spec: TrainJobSpec, module: str, title: str, what: str
) -> dict[str, Any]:
    """The job's result (a gate failure still has one); no result at all is a failure."""
    outcome = run_module_job(
        platform.reporter, zone, module, encode_spec(spec), title, TRAIN_TIMEOUT_S
    )
    if outcome.result is None:
        raise OperationFailed(f"{what} failed ({outcome.job_id}): {outcome.error}")
    return outcome.result


def _plot_train_bench(result: TrainBenchResult, path: Path) -> None:
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
