"""The benchmark's ratios and verdicts are computed, not asserted: check the arithmetic."""

from __future__ import annotations

from pathlib import Path

from loadtests.bench.inprocess import InProcessFigures
from loadtests.bench.report import BenchReport, SystemFigures, add_ratios, plot
from loadtests.summary import Figures


def _figures(rps: float, p50: float, failures: int = 0) -> Figures:
    return Figures(
        requests=1000,
        failures=failures,
        http_errors=failures,
        connection_errors=0,
        duration_s=10,
        rps=rps,
        p50_ms=p50,
        p90_ms=p50 * 2,
        p95_ms=p50 * 3,
        p99_ms=p50 * 4,
        max_ms=p50 * 5,
        status_codes={"200": 1000},
    )


def _report() -> BenchReport:
    limit = InProcessFigures(
        precision="fp32",
        batch_size=1,
        threads=0,
        calls=100,
        p50_ms=5.0,
        p99_ms=9.0,
        texts_per_s=200,
    )
    systems = [
        SystemFigures(
            system="FastAPI + uvicorn",
            precision="fp32",
            one_user=_figures(180, 5.8),
            eight_users=_figures(200, 40),
        ),
        SystemFigures(
            system="mlflow models serve",
            precision="fp32",
            one_user=_figures(170, 6.0),
            eight_users=_figures(100, 80),
        ),
        SystemFigures(
            system="Bulkhead",
            precision="fp32",
            one_user=_figures(150, 6.5),
            eight_users=_figures(190, 42),
        ),
    ]
    return add_ratios(
        BenchReport(
            machine="m",
            model="x v1",
            started_at="now",
            duration_s=1,
            in_process=[limit],
            systems=systems,
        )
    )


def test_ratios_and_overhead_are_against_baselines_of_the_same_run() -> None:
    bulkhead = _report().systems[2]
    assert bulkhead.overhead_ms == 1.5
    assert bulkhead.rps_vs_inprocess == 0.95
    assert bulkhead.rps_vs_mlflow == 1.9
    assert bulkhead.rps_vs_fastapi == 0.95


def test_targets_report_met_and_unmet_honestly() -> None:
    verdicts = {t.name: t.met for t in _report().targets}
    assert verdicts["overhead at 1 user (fp32)"] is True
    assert verdicts["8 users vs mlflow models serve (fp32)"] is True  # 1.9 >= 1.5
    assert verdicts["8 users vs FastAPI (fp32)"] is False  # 0.95 < 1.2
    assert verdicts["8 users vs in-process limit (fp32)"] is True
    assert verdicts["failed Bulkhead requests"] is True


def test_plot_is_written(tmp_path: Path) -> None:
    path = plot(_report(), tmp_path / "bench.png")
    assert path.stat().st_size > 10_000
