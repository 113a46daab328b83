"""The benchmark's result: figures per stack, ratios against the baselines, the targets."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from loadtests.bench.inprocess import InProcessFigures
from loadtests.summary import Figures

# The targets of docs/performance.md, measured as ratios in the same run.
MAX_OVERHEAD_MS = 2.0
MIN_RATIO_VS_MLFLOW = 2.0
MIN_RATIO_VS_FASTAPI = 1.2
MIN_RATIO_VS_INPROCESS = 0.9


class SystemFigures(BaseModel):
    system: str
    precision: str
    one_user: Figures
    eight_users: Figures
    overhead_ms: float | None = Field(
        None, description="p50 at 1 user minus the in-process batch-1 p50 of the same precision."
    )
    rps_vs_inprocess: float | None = None
    rps_vs_mlflow: float | None = None
    rps_vs_fastapi: float | None = None


class Target(BaseModel):
    name: str
    wanted: str
    measured: str
    met: bool


class BenchReport(BaseModel):
    machine: str
    model: str
    started_at: str
    duration_s: float
    in_process: list[InProcessFigures]
    systems: list[SystemFigures]
    targets: list[Target] = Field(default_factory=list)


def _ratio(a: float, b: float | None) -> float | None:
    return round(a / b, 2) if b else None


def add_ratios(report: BenchReport) -> BenchReport:
    limits = {f.precision: f for f in report.in_process if f.batch_size == 1}
    by_name = {s.system: s for s in report.systems}
    mlflow = by_name.get("mlflow models serve")
    fastapi = by_name.get("FastAPI + uvicorn")
    for system in report.systems:
        limit = limits.get(system.precision) or limits.get("fp32")
        rps = system.eight_users.rps
        if limit and system.one_user.p50_ms is not None:
            system.overhead_ms = round(system.one_user.p50_ms - limit.p50_ms, 2)
        system.rps_vs_inprocess = _ratio(rps, limit.texts_per_s if limit else None)
        system.rps_vs_mlflow = _ratio(rps, mlflow.eight_users.rps if mlflow else None)
        system.rps_vs_fastapi = _ratio(rps, fastapi.eight_users.rps if fastapi else None)
    report.targets = _targets(report)
    return report


def _targets(report: BenchReport) -> list[Target]:
    bulkhead = [s for s in report.systems if s.system.startswith("Bulkhead")]
    if not bulkhead:
        return []
    fp32 = next((s for s in bulkhead if s.precision == "fp32"), bulkhead[0])
    best = max(bulkhead, key=lambda s: s.eight_users.rps)
    targets = []

    def add(name: str, wanted: str, value: float | None, ok: bool, fmt: str) -> None:
        targets.append(
            Target(
                name=name,
                wanted=wanted,
                measured="—" if value is None else fmt.format(value),
                met=ok,
            )
        )

    o = fp32.overhead_ms
    add(
        "overhead at 1 user (fp32)",
        f"≤ {MAX_OVERHEAD_MS} ms",
        o,
        o is not None and o <= MAX_OVERHEAD_MS,
        "{:.2f} ms",
    )
    r = best.rps_vs_mlflow
    add(
        f"8 users vs mlflow models serve ({best.precision})",
        f"≥ {MIN_RATIO_VS_MLFLOW}x",
        r,
        r is not None and r >= MIN_RATIO_VS_MLFLOW,
        "{:.2f}x",
    )
    r = fp32.rps_vs_mlflow
    add("8 users vs mlflow models serve (fp32)", "≥ 1.5x", r, r is not None and r >= 1.5, "{:.2f}x")
    r = fp32.rps_vs_fastapi
    add(
        "8 users vs FastAPI (fp32)",
        f"≥ {MIN_RATIO_VS_FASTAPI}x",
        r,
        r is not None and r >= MIN_RATIO_VS_FASTAPI,
        "{:.2f}x",
    )
    r = fp32.rps_vs_inprocess
    add(
        "8 users vs in-process limit (fp32)",
        f"≥ {MIN_RATIO_VS_INPROCESS}x",
        r,
        r is not None and r >= MIN_RATIO_VS_INPROCESS,
        "{:.2f}x",
    )
    failures = sum(s.one_user.failures + s.eight_users.failures for s in bulkhead)
    add("failed Bulkhead requests", "0", failures, failures == 0, "{:d}")
    return targets


def plot(report: BenchReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{s.system}\n{s.precision}" for s in report.systems]
    fig, (ax_rps, ax_lat) = plt.subplots(1, 2, figsize=(13, 5))
    rps = [s.eight_users.rps for s in report.systems]
    bars = ax_rps.bar(names, rps, color="tab:blue")
    ax_rps.bar_label(bars, fmt="%.0f")
    for f in report.in_process:
        if f.batch_size == 1:
            ax_rps.axhline(
                f.texts_per_s, ls="--", color="tab:red" if f.precision == "fp32" else "tab:orange"
            )
            ax_rps.text(
                -0.4, f.texts_per_s, f"in-process {f.precision} b1", va="bottom", fontsize=8
            )
    ax_rps.set_title("8 users: requests/s (one text each)")
    x = range(len(report.systems))
    p50 = [s.one_user.p50_ms or 0 for s in report.systems]
    p99 = [s.one_user.p99_ms or 0 for s in report.systems]
    p99_8 = [s.eight_users.p99_ms or 0 for s in report.systems]
    width = 0.27
    ax_lat.bar([i - width for i in x], p50, width, label="1 user p50")
    ax_lat.bar(list(x), p99, width, label="1 user p99")
    ax_lat.bar([i + width for i in x], p99_8, width, label="8 users p99")
    ax_lat.set_xticks(list(x), names)
    ax_lat.set_ylabel("ms")
    ax_lat.set_title("latency")
    ax_lat.legend()
    for ax in (ax_rps, ax_lat):
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"{report.model} on {report.machine}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
