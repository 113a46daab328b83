"""`bulkhead up --isolate`: the registry and each zone in their own network namespace.

A second platform of its own (registry and three Ray clusters, no pipeline), because the
session platform runs on the host's loopback. Skipped, with the reason, only where network
namespaces cannot be made (not root, no iproute2/nftables).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkhead.platform.isolation import IsolationError, Node, require_namespaces
from bulkhead.platform.state import PlatformState
from tests.utils.platform import TestPlatform

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPlatform]:
    try:
        require_namespaces()
    except IsolationError as err:
        pytest.skip(f"network namespaces unavailable here: {err}")
    home = Path(tmp_path_factory.mktemp("isolated")) / ".bulkhead"
    platform = TestPlatform(home=home, registry_port=15600, serve_http_port=18600, port_base=30000)
    done = platform.cli("up", "--isolate", "--no-pipeline", timeout=300)
    try:
        assert done.returncode == 0, done.stderr[-4000:]
        yield platform
    finally:
        platform.cli("down", timeout=180)


def _state(platform: TestPlatform) -> PlatformState:
    return PlatformState.load(platform.paths.state_file)


def _in_namespace(
    platform: TestPlatform, node: Node, code: str
) -> subprocess.CompletedProcess[str]:
    layout = _state(platform).isolation
    assert layout is not None
    return subprocess.run(
        [*layout.exec_prefix(node), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=platform.env(),
    )


def test_isolation_matrix_holds(isolated: TestPlatform) -> None:
    done = isolated.cli("check-isolation", "--json")
    report = json.loads(done.stdout)
    table = isolated.cli("check-isolation")
    print(table.stdout + table.stderr)  # the matrix, for the CI log
    assert done.returncode == 0 and report["holds"], [
        p for p in report["probes"] if p["outcome"] not in ("open", "no route", "timeout")
    ]
    outcome = {
        (p["source"], p["target"]["node"], p["target"]["service"]): p["outcome"]
        for p in report["probes"]
    }
    # The design's matrix, cell by cell: zones reach the registry and nothing of each other.
    for zone in ("ingest", "train", "serve"):
        assert outcome[(zone, "registry", "registry http")] == "open"
        assert outcome[("host", zone, "gcs")] == "open"
    for source, target in [
        ("serve", "train"),
        ("train", "serve"),
        ("serve", "ingest"),
        ("ingest", "serve"),
        ("ingest", "train"),
        ("train", "ingest"),
    ]:
        for service in ("gcs", "dashboard"):
            assert outcome[(source, target, service)] == "no route", (source, target, service)
    assert outcome[("train", "serve", "serve http")] == "no route"
    # The registry has a route back to each zone's link address, but the zone's filter
    # admits no new connection from it.
    assert outcome[("registry", "serve", "serve http (registry link)")] == "timeout"


def test_each_zone_talks_to_the_registry_with_its_own_credentials(isolated: TestPlatform) -> None:
    code = (
        "import httpx, json, pathlib;"
        "c = json.loads(pathlib.Path({file!r}).read_text());"
        "r = httpx.get(c['tracking_uri'] + '/api/2.0/mlflow/experiments/get-by-name',"
        " params={{'experiment_name': {experiment!r}}}, auth=(c['username'], c['password']));"
        "print(r.status_code)"
    )
    # Each zone reads its own experiment: ingest logs dataset runs in one of its own.
    for node, user, experiment in (
        (Node.SERVE, "server", "bulkhead"),
        (Node.TRAIN, "trainer", "bulkhead"),
        (Node.INGEST, "ingest", "bulkhead-ingest"),
    ):
        file = isolated.paths.registry_credentials(user)
        done = _in_namespace(isolated, node, code.format(file=str(file), experiment=experiment))
        assert done.stdout.strip() == "200", (node, done.stderr[-500:])


def test_the_serve_zone_cannot_reach_the_train_clusters_dashboard(isolated: TestPlatform) -> None:
    state = _state(isolated)
    train = state.zones[next(z for z in state.zones if z.value == "train")]
    code = (
        "import httpx\n"
        "try:\n"
        f"    httpx.get({train.dashboard_url + '/api/version'!r}, timeout=3)\n"
        "    print('reached')\n"
        "except httpx.ConnectError as err:\n"
        "    print('refused:', err)\n"
    )
    done = _in_namespace(isolated, Node.SERVE, code)
    assert done.stdout.startswith("refused:"), done.stdout + done.stderr[-500:]
    assert "unreachable" in done.stdout.lower()


def _register_good_version(platform: TestPlatform, folder: Path) -> str:
    """A real tiny bundle, registered and gate-passed by the trainer from the host."""
    from mlflow import MlflowClient

    from registry.credentials import RegistryCredentials
    from registry.writer import RegistryWriter
    from tests.utils.bundles import make_bundle
    from tests.utils.signing import sign_as_signer

    credentials = RegistryCredentials.from_file(platform.paths.registry_credentials("trainer"))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in credentials.client_env().items():
            patch.setenv(key, value)
        client = MlflowClient(tracking_uri=credentials.tracking_uri)
        writer = RegistryWriter("sentiment", client)
        make_bundle(folder)
        experiment = client.get_experiment_by_name("bulkhead")
        run = client.create_run(experiment.experiment_id, run_name="isolation-test")
        logged = writer.log_bundle(run.info.run_id, folder)
        client.set_terminated(run.info.run_id)
        version: str = writer.register(run.info.run_id, logged, {"gate.passed": "true"})
    sign_as_signer(platform, "sentiment", version)  # a bundle without training evidence
    return version


def test_a_promotion_made_during_a_registry_partition_is_served_when_it_heals(
    isolated: TestPlatform, tmp_path: Path
) -> None:
    """The serve zone's link to the registry goes down under load; the operator promotes
    another version meanwhile; nothing fails, and the new version is served once the link is
    back."""
    first = _register_good_version(isolated, tmp_path / "a")
    _register_good_version(isolated, tmp_path / "b")
    assert isolated.cli("promote", first, "--reason", "isolation test").returncode == 0
    deployed = isolated.cli("deploy", timeout=400)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    done = isolated.cli(
        "chaos", "--scenario", "registry-partition", "--quick", "--json", timeout=400
    )
    (result,) = json.loads(done.stdout)
    print(
        f"\nregistry partition: {result['requests']} requests, {result['failed']} failed; "
        f"{result['detail']}"
    )
    assert result["failed"] == 0 and result["requests"] > 50
    assert result["verdict"] == "pass", result


def test_down_stops_everything_and_removes_the_namespaces(isolated: TestPlatform) -> None:
    """Runs last in this module (the fixture's own `down` is then a no-op)."""
    layout = _state(isolated).isolation
    assert layout is not None
    names = list(layout.namespaces.values())
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert all(name in listed for name in names)
    done = isolated.cli("down", timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed for name in names)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not any(link.a_interface in links for link in layout.links)
    assert _state(isolated).isolation is None
