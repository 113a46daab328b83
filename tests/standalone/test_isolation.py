"""`bulkhead up --isolate --tls`: the registry and each zone in their own network namespace,
Ray mutual TLS per zone, the registry and the Serve proxy over HTTPS.

One platform of its own for both modes (registry and three Ray clusters, no pipeline): the
session platform runs plain on the host's loopback. Together they cost one start and one stop
instead of two, and the combination users run for the strongest walls is the one tested
(alone, each mode also has its unit tests; the first run together found `check-isolation`
failing on the certificates' file modes). Clients without the platform CA, and Ray peers
without the zone's certificate, are refused. Skipped, with the reason, only where network
namespaces cannot be made (not root, no iproute2/nftables).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bulkhead.platform import tls
from bulkhead.platform.core import Platform
from bulkhead.platform.isolation import IsolationError, Node, require_namespaces
from bulkhead.platform.services import ray_client_env
from bulkhead.platform.settings import PlatformSettings, Zone
from bulkhead.platform.state import PlatformState
from bulkhead.render.serve_config import render_config
from tests.utils.bundles import prepared_version
from tests.utils.platform import TestPlatform

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPlatform]:
    try:
        require_namespaces()
    except IsolationError as err:
        pytest.skip(f"network namespaces unavailable here: {err}")
    home = Path(tmp_path_factory.mktemp("isolated")) / ".bulkhead"
    platform = TestPlatform(home=home, registry_port=15600, serve_http_port=18600, port_base=30000)
    done = platform.cli("up", "--isolate", "--tls", "--no-pipeline", timeout=300)
    try:
        assert done.returncode == 0, done.stderr[-4000:]
        yield platform
    finally:
        platform.cli("down", timeout=180)


def _effective(platform: TestPlatform) -> PlatformSettings:
    """The settings as `up --isolate --tls` applied them: namespace addresses, HTTPS."""
    return Platform(platform.settings).settings


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
        " params={{'experiment_name': {experiment!r}}}, auth=(c['username'], c['password']),"
        " verify=c.get('ca_file') or True);"  # the platform CA under --tls
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


def _files(platform: TestPlatform) -> tls.TlsFiles:
    return tls.files(platform.paths)


def test_registry_speaks_https_only_to_clients_with_the_ca(isolated: TestPlatform) -> None:
    url = _effective(isolated).registry_url
    assert url.startswith("https://10.")  # its namespace's address
    ca = str(_files(isolated).ca_cert)
    assert httpx.get(f"{url}/health", verify=ca).status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{url}/health")  # the system trust store does not know the platform CA
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https://", "http://") + "/health", timeout=5)
    auth = ("server", isolated.password("server"))
    got = httpx.get(
        f"{url}/api/2.0/mlflow/registered-models/get",
        params={"name": "sentiment"},
        auth=auth,
        verify=ca,
    )
    assert got.status_code == 200


def _grpc_handshake(address: str, ca: Path, cert: Path | None, key: Path | None) -> int:
    """Bytes the server at ``address`` (host:port) sends after an HTTP/2 preface over TLS:
    0 when it drops the peer."""
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["h2"])
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as conn,
    ):
        conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        try:
            return len(conn.recv(100))
        except (ssl.SSLError, ConnectionResetError):
            return 0


def test_each_cluster_accepts_only_its_own_zones_certificate(isolated: TestPlatform) -> None:
    files = _files(isolated)
    train_gcs = _state(isolated).zones[Zone.TRAIN].gcs_address  # in the train namespace
    own, other = files.for_zone(Zone.TRAIN), files.for_zone(Zone.SERVE)
    assert _grpc_handshake(train_gcs, files.zone_ca(Zone.TRAIN), own.cert, own.key) > 0
    assert _grpc_handshake(train_gcs, files.zone_ca(Zone.TRAIN), None, None) == 0
    assert _grpc_handshake(train_gcs, files.zone_ca(Zone.TRAIN), other.cert, other.key) == 0
    with pytest.raises(ssl.SSLCertVerificationError):
        _grpc_handshake(train_gcs, files.ca_cert, own.cert, own.key)


def test_a_job_runs_on_a_tls_cluster_and_logs_to_the_https_registry(
    isolated: TestPlatform,
) -> None:
    done = isolated.cli("ingest", "--json", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"digest"' in done.stdout


def test_serve_proxy_speaks_https_to_clients_with_the_ca(isolated: TestPlatform) -> None:
    platform = Platform(isolated.settings)  # its settings as applied: HTTPS, namespaces
    assert platform.settings.tls and platform.settings.serve.haproxy_ingress
    rendered = render_config(platform, ROOT / "serve_config.yaml")
    zone = PlatformState.load(isolated.paths.state_file).zones[Zone.SERVE]
    env = {
        **os.environ,
        **ray_client_env(zone.token_file),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    serve = str(Path(sys.executable).parent / "serve")
    deployed = subprocess.run(
        [serve, "deploy", str(rendered), "--address", zone.dashboard_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    url = f"{platform.settings.serve_url}/v2/health/live"
    ca = str(_files(isolated).ca_cert)
    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline:
        try:
            status = httpx.get(url, verify=ca, timeout=3).status_code
            if status == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    assert status == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url, timeout=3)
    # No model is registered on this platform: prediction routes still demand the key first.
    predict = f"{platform.settings.serve_url}/v1/predict"
    assert httpx.post(predict, json={"texts": ["x"]}, verify=ca).status_code == 401


def test_deploy_chaos_and_loadtest_work_over_https(isolated: TestPlatform, tmp_path: Path) -> None:
    """Every client of the serve API (deploy's readiness check, the chaos harness, Locust)
    verifies the HTTPS endpoint against the platform CA: none of them needs it turned off."""
    state = PlatformState.load(isolated.paths.state_file)
    snapshot = state.latest_snapshots.get(isolated.settings.default_model)
    assert snapshot is not None, "the ingest test above made one"
    # A prepared bundle: the job above proved training over TLS; this is about the clients.
    champion = prepared_version(isolated, snapshot, promote=True).version

    deployed = isolated.cli_json("deploy", timeout=400)
    assert deployed["url"].startswith("https://") and "--cacert" in deployed["curl"]
    assert deployed["model_version"] == champion

    chaos = isolated.cli("chaos", "--scenario", "hostile-input", "--json", timeout=300)
    assert chaos.returncode == 0, chaos.stderr[-3000:]
    (result,) = json.loads(chaos.stdout)
    assert result["verdict"] == "pass", result["detail"]

    report = tmp_path / "loadtest"
    summary = isolated.cli_json("loadtest", "--profile", "smoke", "--report", str(report))
    assert summary["target_url"].startswith("https://")
    assert summary["overall"]["requests"] > 0 and summary["overall"]["failures"] == 0
    assert set(summary["versions_seen"]) == {champion}


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
