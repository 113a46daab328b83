"""The CLI's fixed choices match the registries they name, every command's summary is one
line, and the small conveniences users expect (`--version`, a purge that asks) hold.

Covers: bulkhead/cli/choices.py, bulkhead/cli/app.py, bulkhead/harness/countdown.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from bulkhead.cli import choices
from bulkhead.cli.app import app
from bulkhead.cli.exit_codes import ExitCode
from bulkhead.harness import countdown

ROOT = Path(__file__).resolve().parents[3]


def _values(enum: type[Any]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def test_each_choice_list_is_the_registry_it_names() -> None:
    from bulkhead.harness.bench import SYSTEMS
    from bulkhead.harness.chaos import NAMED_ONLY, SCENARIOS
    from loadtests.profiles import PROFILES
    from training.schema import PRESETS

    assert _values(choices.Preset) == tuple(PRESETS)
    assert _values(choices.Profile) == tuple(PROFILES)
    assert _values(choices.Scenario) == (*SCENARIOS, *NAMED_ONLY)
    assert _values(choices.Stack) == tuple(SYSTEMS)


def _commands(command: Any, prefix: str = "") -> dict[str, Any]:
    subs = getattr(command, "commands", None)
    if not subs:
        return {prefix.strip(): command}
    found: dict[str, Any] = {}
    for name, sub in subs.items():
        found |= _commands(sub, f"{prefix}{name} ")
    return found


def test_every_command_has_a_one_line_summary() -> None:
    """`bulkhead --help` shows a command's first paragraph: one line each, not a wrapped
    half-sentence."""
    commands = _commands(typer.main.get_command(app))
    long = {
        name: command.help
        for name, command in commands.items()
        if "\n" in (command.help or "").strip().split("\n\n")[0] or not command.help
    }
    assert long == {}


def _cli(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BULKHEAD_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "bulkhead", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        input=stdin,
        timeout=60,
    )


def test_version_and_a_refused_choice(tmp_path: Path) -> None:
    version = _cli("--version", home=tmp_path / ".bulkhead")
    assert version.returncode == 0 and version.stdout.startswith("bulkhead ")
    typo = _cli("chaos", "--scenario", "replica-crsh", home=tmp_path / ".bulkhead")
    assert typo.returncode == 2 and "replica-crash" in typo.stderr  # the choices are listed


def test_purge_asks_first_and_refuses_without_a_terminal(tmp_path: Path) -> None:
    home = tmp_path / ".bulkhead"
    home.mkdir()
    (home / "keep").write_text("data")
    refused = _cli("down", "--purge", home=home, stdin="")
    assert refused.returncode == ExitCode.BAD_INPUT and "--yes" in refused.stderr
    assert (home / "keep").exists()
    purged = _cli("down", "--purge", "--yes", home=home)
    assert purged.returncode == 0, purged.stderr
    assert not home.exists()


def test_drift_has_its_own_exit_code() -> None:
    assert ExitCode.DRIFT not in (ExitCode.OK, ExitCode.FAILED)


def test_the_countdown_says_which_of_how_many_and_the_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(countdown.time, "monotonic", lambda: now[0])
    clock = countdown.Countdown("chaos", 3)
    assert clock.next("a") == "chaos 1/3: a (0:00)"
    now[0] += 90
    assert clock.next("b") == "chaos 2/3: b (1:30, about 3:00 left)"
