"""The benchmark's ratios and verdicts are computed, not asserted: check the arithmetic."""

from __future__ import annotations

from pathlib import Path

from loadtests.bench.inprocess import AllCoreFigures, InProcessFigures
from loadtests.bench.report import BenchReport, SystemFigures, Unavailable, add_ratios, plot
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


def _system(name: str, one: Figures, eight: Figures, precision: str = "fp32") -> SystemFigures:
    return SystemFigures(system=name, precision=precision, one_user=one, eight_users=eight)


def _all_cores(batch: int, texts_per_s: float) -> AllCoreFigures:
    return AllCoreFigures(
        precision="fp32",
        batch_size=batch,
        processes=2,
        calls=100,
        p50_ms=5.0,
        p99_ms=9.0,
        texts_per_s=texts_per_s,
    )


def _report(bulkhead_failures: int = 0) -> BenchReport:
    single = InProcessFigures(
        precision="fp32", batch_size=1, threads=0, calls=100, p50_ms=5.0, p99_ms=9.0,
        texts_per_s=200,
    )  # fmt: skip
    systems = [
        _system("FastAPI + uvicorn", _figures(180, 5.8), _figures(200, 40)),
        _system("KServe (v1)", _figures(170, 6.0), _figures(160, 30)),
        _system("Bulkhead", _figures(150, 5.5, bulkhead_failures), _figures(250, 35)),
    ]
    return add_ratios(
        BenchReport(
            machine="m",
            model="x v1",
            started_at="now",
            duration_s=1,
            in_process=[single],
            all_cores=[_all_cores(1, 300), _all_cores(8, 420), _all_cores(16, 400)],
            systems=systems,
            unavailable=[Unavailable(system="MLServer (OIP v2)", reason="pip failed")],
        )
    )


def test_ratios_are_against_the_limits_and_peers_of_the_same_run() -> None:
    report = _report()
    fastapi, kserve, bulkhead = report.systems
    assert bulkhead.overhead_ms == 0.5  # 5.5 - 5.0 single-stream in-process
    assert bulkhead.rps_vs_limit == 0.83  # 250 / 300 all-core batch 1
    assert fastapi.bulkhead_vs_this == 1.25  # 250 / 200
    assert kserve.bulkhead_vs_this == 1.56
    assert bulkhead.bulkhead_vs_this is None
    best = report.best_batched("fp32")
    assert best is not None and best.batch_size == 8


def test_goals_report_met_and_unmet_honestly() -> None:
    verdicts = {t.name: (t.met, t.measured) for t in _report().targets}
    assert verdicts["1 client: p50 over in-process (fp32)"] == (True, "0.50 ms")
    assert verdicts["8 clients: RPS over the all-core limit (fp32)"] == (False, "0.83x")
    assert verdicts["8 clients: RPS over the best peer (FastAPI + uvicorn)"] == (True, "1.25x")
    # 1 client: Bulkhead's p50 5.5 beats both, and p99 22 < 23.2 and 24.
    assert verdicts["1 client: lower p50 and p99 than every peer (fp32)"][0] is True
    # 8 clients: KServe's p50 30 is below Bulkhead's 35.
    assert verdicts["8 clients: lower p50 and p99 than every peer (fp32)"] == (
        False,
        "not below KServe (v1)",
    )
    assert verdicts["failed requests, every run"] == (True, "0")


def test_a_failed_request_anywhere_fails_the_goal() -> None:
    verdicts = {t.name: (t.met, t.measured) for t in _report(bulkhead_failures=3).targets}
    assert verdicts["failed requests, every run"] == (False, "Bulkhead fp32: 3")


def test_plot_is_written(tmp_path: Path) -> None:
    path = plot(_report(), tmp_path / "bench.png")
    assert path.stat().st_size > 10_000


def test_the_markdown_report_carries_every_row_and_goal() -> None:
    from bulkhead.harness.bench import PlatformBenchReport
    from bulkhead.harness.bench_markdown import bench_markdown

    report = PlatformBenchReport(**_report().model_dump())
    text = bench_markdown(report)
    assert "| **Bulkhead** | fp32 | 5.5 |" in text
    assert "| KServe (v1) | fp32 |" in text and "1.56x" in text
    assert "not run: pip failed" in text
    assert text.count("| not met |") == sum(not t.met for t in report.targets)


def test_a_new_connection_per_request_is_judged_against_its_own_goal() -> None:
    """One client without keep-alive (urllib, requests without a session, curl in a loop)
    pays a connection per request: its own leg, its own goal (2.0 ms over in-process)."""
    report = _report()
    ours = report.systems[2]
    ours.one_user_new_connection = _figures(150, 7.8)
    verdicts = {t.name: (t.met, t.measured) for t in add_ratios(report).targets}
    name = "1 client, a new connection per request: p50 over in-process (fp32)"
    assert report.systems[2].new_connection_overhead_ms == 2.8  # 7.8 - 5.0
    assert verdicts[name] == (False, "2.80 ms")
    ours.one_user_new_connection = _figures(150, 6.5)
    assert {t.name: t.met for t in add_ratios(report).targets}[name] is True
