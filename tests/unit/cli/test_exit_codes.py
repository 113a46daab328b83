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
    import os

    env = {**os.environ, "BULKHEAD_HOME": str(tmp_path / ".bulkhead"), "COLUMNS": "200"}
    env = {k: v for k, v in env.items() if not k.startswith(("RAY_", "MLFLOW_"))}
    for command in (["check-isolation", "--json"], ["cost", "--seconds", "1", "--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "bulkhead", *command],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        assert done.returncode == ExitCode.NOT_RUNNING, (command, done.stdout, done.stderr)
        assert '"holds": true' not in done.stdout
        assert "not running" in done.stdout + done.stderr
        assert "Traceback" not in done.stderr
