"""One real platform (MLflow + three Ray clusters) for the whole test session (integration and
security suites share it).

Started through the real CLI, stopped through it at the end, and checked to have left no
process behind.
"""

from __future__ import annotations

import glob
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from bulkhead.platform.procs import session_members
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import DROP_KEEPER, PlatformState
from tests.utils.bundles import prepared_version
from tests.utils.platform import SECOND_MODEL, Served, TestPlatform

# A skipped test did not run: CI fails on any skip unless this is set (a developer who is
# not root, say, where the per-zone identity tests cannot run). CI runs as root: none skip.
ALLOW_SKIPS_ENV = "BULKHEAD_ALLOW_SKIPS"
_skipped: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        _skipped.append((report.nodeid, reason))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _skipped:
        return
    allowed = bool(os.environ.get(ALLOW_SKIPS_ENV))
    terminalreporter.section("skipped tests", sep="=", red=not allowed, bold=True)
    for nodeid, reason in _skipped:
        terminalreporter.line(f"SKIPPED {nodeid}: {reason}")
    if not allowed:
        terminalreporter.line(
            f"{len(_skipped)} test(s) did not run: the session fails on an unexpected skip "
            f"(set {ALLOW_SKIPS_ENV}=1 where a skip is expected, e.g. when not root)",
            red=True,
        )


def _cwd(proc: psutil.Process) -> str:
    try:
        return proc.cwd()
    except psutil.Error:
        return ""


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


_TMP_FOLDERS_BEFORE = "_bulkhead_tmp_folders_before"


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    setattr(session.config, _TMP_FOLDERS_BEFORE, set(glob.glob("/tmp/bulkhead-*")))


@pytest.hookimpl(trylast=True)  # after the session's fixtures (the platform) are torn down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every platform a test lays out (a unit test's temporary home, or a whole platform)
    has a /tmp/bulkhead-<key> folder of its own (sockets, HAProxy's state, the serve zone's
    read-only files): those the session made are removed when it ends (after every
    platform is down), so the suite leaves nothing in /tmp. Under `pytest -n` only the
    controller removes them, once every worker has ended: a worker that finished first would
    remove the folder of a test another worker is still running."""
    if _skipped and not os.environ.get(ALLOW_SKIPS_ENV) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if _is_xdist_worker(session.config):
        return
    before: set[str] = getattr(session.config, _TMP_FOLDERS_BEFORE, set())
    # A folder made meanwhile by a platform that runs beside this session (a developer's
    # `make up`, another suite) is in use by its processes: kept. (Removing every new one
    # once cost a two-node platform its HAProxy wrapper mid-`deploy`.)
    in_use = " ".join(f"{' '.join(_cmdline(p))} {_cwd(p)}/" for p in psutil.process_iter())
    for folder in set(glob.glob("/tmp/bulkhead-*")) - before:
        if folder + "/" not in in_use:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPlatform]:
    home = Path(tmp_path_factory.mktemp("platform")) / ".bulkhead"
    test_platform = TestPlatform(
        home=home,
        registry_port=15500,
        serve_http_port=18500,
        port_base=24000,
        # Three train CPUs for the scheduler (two by default), on the same two cores: the
        # training tests run three one-worker jobs at once where each mostly waits on Ray.
        extra_env=(("BULKHEAD_TRAIN__NUM_CPUS", "3"),),
    )
    done = test_platform.cli("up", "--no-pipeline", timeout=300)
    if done.returncode != 0:
        test_platform.cli("down")
        pytest.fail(f"bulkhead up failed:\n{done.stderr[-4000:]}")
    state = PlatformState.load(test_platform.paths.state_file)
    leaders = [state.registry.process.pid] if state.registry else []
    leaders += [z.process.pid for z in state.zones.values()]
    keeper = state.process(DROP_KEEPER)
    leaders += [keeper.pid] if keeper else []
    try:
        yield test_platform
    finally:
        # `down --purge`, as a user ends for good: it must leave nothing of what `up` made,
        # neither the home nor the platform's /tmp folder (Ray's folders, sockets, etc-serve).
        down = test_platform.cli("down", "--purge", "--yes", timeout=300)
        leftovers = {pid: session_members(pid) for pid in leaders}
        haproxy_dir = str(test_platform.paths.haproxy_dir)
        strays = [p.pid for p in psutil.process_iter() if haproxy_dir in " ".join(_cmdline(p))]
        left_behind = [
            str(path)
            for path in (test_platform.paths.home, test_platform.paths.short_root)
            if os.path.lexists(path)
        ]
        for zone in Zone:
            shutil.rmtree(test_platform.paths.ray_temp_dir(zone), ignore_errors=True)
        assert down.returncode == 0, down.stderr[-3000:]
        assert all(not members for members in leftovers.values()), leftovers
        assert not strays, f"HAProxy processes left running: {strays}"
        assert not left_behind, f"`down --purge` left {left_behind}"


# The peers' and OIP clients' own environments: under .venv (ignored, removed with it), so
# that the standalone tier's peer tests and the shared tier's client checks install KServe's
# once per checkout. Each is installed again whenever its pins change (a stamp per folder).
PEER_HOME = Path(__file__).resolve().parents[1] / ".venv" / "test-peers"


@pytest.fixture(scope="session")
def peer_home() -> Path:
    PEER_HOME.mkdir(parents=True, exist_ok=True)
    return PEER_HOME


@pytest.fixture(scope="session")
def snapshot(platform: TestPlatform) -> Path:
    """The bundled data set's snapshot (ingested once; identical digest every time)."""
    result = platform.cli_json("ingest", "--no-log-to-registry")
    return Path(result["snapshot"])


@pytest.fixture(scope="session")
def served(
    platform: TestPlatform, snapshot: Path, tmp_path_factory: pytest.TempPathFactory
) -> Served:
    """The serve app deployed once per session, serving a champion (a prepared bundle when
    none exists: training is the subject of tests/integration/test_training.py only)."""
    if platform.cli_json("status")["champion_version"] is None:
        prepared_version(platform, snapshot, promote=True)
    done = platform.cli("deploy", timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return Served(
        url=f"http://127.0.0.1:{platform.serve_http_port}", key=platform.secret("serve-api-key")
    )


def _wait_served(served: Served, model: str, version: str, timeout_s: float = 120.0) -> None:
    """Until the model's replicas answer with ``version``."""
    import httpx

    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(
                f"{served.url}/v1/models/{model}/status", headers=served.headers(), timeout=5
            )
            seen = answer.json().get("version") if answer.status_code == 200 else answer.text
        except (httpx.HTTPError, ValueError) as err:
            seen = str(err)
        if seen == version:
            return
        time.sleep(0.5)
    raise AssertionError(f"{model} v{version} not served within {timeout_s:.0f} s: {seen}")


@pytest.fixture(scope="session")
def second_model(platform: TestPlatform, served: Served) -> dict[str, Any]:
    """The second bundled model ingested, and a prepared bundle over its snapshot registered
    and promoted once per session (training is the subject of test_training.py and the
    feedback loop's tests only); its application is in the deployed serve_config.yaml and
    picks the champion up by polling."""
    ingested = platform.cli_json("ingest", "--model", SECOND_MODEL, "--no-log-to-registry")
    assert set(ingested["labels"]) == {"objective", "subjective"}
    assert Path(ingested["snapshot"]).name.startswith(SECOND_MODEL)
    prepared = prepared_version(platform, Path(ingested["snapshot"]), SECOND_MODEL, promote=True)
    # Served before any test uses it: a test whose first request reached the replica while it
    # still loaded got a 503 (the loop test in CI, 2026-12-07, once the model signer also
    # worked on the new version beside it).
    _wait_served(served, SECOND_MODEL, prepared.version)
    return {
        "version": prepared.version,
        "run_id": prepared.run_id,
        "snapshot_path": ingested["snapshot"],
    }
