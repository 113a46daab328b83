"""One exit code per meaning, for every kind of operation error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bulkhead.cli.exit_codes import ExitCode, for_error
from bulkhead.operations import errors

ROOT = Path(__file__).resolve().parents[3]


def test_every_operation_error_kind_has_its_own_exit_code() -> None:
    kinds = errors.OperationError.__subclasses__()
    codes = [for_error(kind("x")) for kind in kinds]
    assert len(set(codes)) == len(kinds)
    assert ExitCode.OK not in codes


def test_the_codes_scripts_rely_on() -> None:
    assert for_error(errors.BadInput("x")) == 2
    assert for_error(errors.GateFailed("x")) == 3
    assert for_error(errors.Refused("x")) == 4
    assert for_error(errors.NotRunning("x")) == 5
    assert for_error(errors.OperationFailed("x")) == 1


def test_python_dash_m_bulkhead_is_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bulkhead", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    for command in ("up", "status", "train", "deploy", "loadtest", "chaos", "check-isolation"):
        assert command in done.stdout


def test_chaos_help_lists_every_scenario() -> None:
    from bulkhead.harness.chaos import SCENARIOS

    done = subprocess.run(
        [sys.executable, "-m", "bulkhead", "chaos", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    for name in SCENARIOS:
        assert name in done.stdout


def test_reports_on_a_stopped_platform_say_it_is_not_running(tmp_path: Path) -> None:
    """Found by review: on a stopped platform `check-isolation --json` printed
    `"holds": true` with no sockets seen and `cost` exited 0 with zeros."""
    for command in (["check-isolation", "--json"], ["cost", "--seconds", "1", "--json"]):
        done = _cli(tmp_path / ".bulkhead", *command)
        assert done.returncode == ExitCode.NOT_RUNNING, (command, done.stdout, done.stderr)
        assert '"holds": true' not in done.stdout
        assert "not running" in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def _cli(home: Path, *command: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "BULKHEAD_HOME": str(home), "COLUMNS": "200"}
    env = {k: v for k, v in env.items() if not k.startswith(("RAY_", "MLFLOW_"))}
    return subprocess.run(
        [sys.executable, "-m", "bulkhead", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_what_the_platform_or_the_disk_refuses_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """Found by review: `certs` and `down` printed tracebacks for a linked secrets folder or an
    unreadable state file (a `ZoneFileError` and an `OSError` the error handler let through)."""
    home = tmp_path / ".bulkhead"
    home.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (home / "secrets").symlink_to(tmp_path / "elsewhere")
    done = _cli(home, "certs")
    assert done.returncode == ExitCode.FAILED, done.stderr
    assert "Traceback" not in done.stderr and "is a link" in done.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == []  # nothing written through the link
    (home / "secrets").unlink()
    (home / "state.json").mkdir()
    for command in (["down"], ["down", "--purge", "--yes"], ["status"], ["check-isolation"]):
        done = _cli(home, *command)
        assert done.returncode == ExitCode.FAILED, (command, done.stderr)
        assert "Traceback" not in done.stderr and "state.json" in done.stderr, command
    assert home.exists()  # a purge that could not read what it would stop deletes nothing


def test_a_loadtest_with_failed_requests_exits_1(monkeypatch, tmp_path: Path) -> None:
    """Found by review: `loadtest` exited 0 whatever its requests did; a script read a run
    with failures as a pass."""
    import importlib

    from typer.testing import CliRunner

    from bulkhead.harness import loadtest
    from loadtests.summary import Figures, LoadTestSummary

    def summary(failures: int) -> LoadTestSummary:
        figures = Figures(
            requests=100,
            failures=failures,
            http_errors=failures,
            connection_errors=0,
            duration_s=1.0,
            rps=100.0,
            p50_ms=1.0,
            p90_ms=1.0,
            p95_ms=1.0,
            p99_ms=1.0,
            max_ms=1.0,
            status_codes={"200": 100 - failures, **({"503": failures} if failures else {})},
        )
        return LoadTestSummary(
            profile="smoke",
            description="test",
            target_url="http://127.0.0.1:1",
            started_at=0.0,
            warmup_s=0.0,
            overall=figures,
            stages=[],
            versions_seen={"1": 100 - failures},
        )

    cli_app = importlib.import_module("bulkhead.cli.app")  # the module, not its Typer app
    monkeypatch.setattr(cli_app, "_platform", lambda model=None: None)
    monkeypatch.setattr(cli_app.render, "loadtest_report", lambda *args: None)
    runner = CliRunner()
    for failures, code in ((0, 0), (3, ExitCode.FAILED)):
        monkeypatch.setattr(loadtest, "run_loadtest", lambda *args, f=failures: summary(f))
        done = runner.invoke(cli_app.app, ["loadtest", "--profile", "smoke", "--json"])
        assert done.exit_code == code, done.output
