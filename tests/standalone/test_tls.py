"""`bulkhead up --tls`: Ray mutual TLS per zone, the registry and the Serve proxy over HTTPS.

A platform of its own (the session platform runs plain). Clients without the platform CA, and
Ray peers without the zone's certificate, are refused.
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
from bulkhead.platform.services import ray_client_env
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import PlatformState
from bulkhead.render.serve_config import render_config
from tests.utils.bundles import prepared_version
from tests.utils.platform import TestPlatform

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPlatform]:
    home = Path(tmp_path_factory.mktemp("tls")) / ".bulkhead"
    platform = TestPlatform(home=home, registry_port=15800, serve_http_port=18800, port_base=27000)
    done = platform.cli("up", "--tls", "--no-pipeline", timeout=300)
    try:
        assert done.returncode == 0, done.stderr[-4000:]
        yield platform
    finally:
        platform.cli("down", timeout=180)


def _files(platform: TestPlatform) -> tls.TlsFiles:
    return tls.files(platform.paths)


def test_registry_speaks_https_only_to_clients_with_the_ca(secured: TestPlatform) -> None:
    url = f"https://127.0.0.1:{secured.registry_port}"
    ca = str(_files(secured).ca_cert)
    assert httpx.get(f"{url}/health", verify=ca).status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{url}/health")  # the system trust store does not know the platform CA
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{secured.registry_port}/health", timeout=5)
    auth = ("server", secured.password("server"))
    got = httpx.get(
        f"{url}/api/2.0/mlflow/registered-models/get",
        params={"name": "sentiment"},
        auth=auth,
        verify=ca,
    )
    assert got.status_code == 200


def _grpc_handshake(port: int, ca: Path, cert: Path | None, key: Path | None) -> int:
    """Bytes the server sends after an HTTP/2 preface over TLS: 0 when it drops the peer."""
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["h2"])
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        try:
            return len(conn.recv(100))
        except (ssl.SSLError, ConnectionResetError):
            return 0


def test_each_cluster_accepts_only_its_own_zones_certificate(secured: TestPlatform) -> None:
    files = _files(secured)
    train_gcs = secured.port_base + 1000
    own, other = files.for_zone(Zone.TRAIN), files.for_zone(Zone.SERVE)
    assert _grpc_handshake(train_gcs, files.zone_ca(Zone.TRAIN), own.cert, own.key) > 0
    assert _grpc_handshake(train_gcs, files.zone_ca(Zone.TRAIN), None, None) == 0
    assert _grpc_handshake(train_gcs, files.zone_ca(Zone.TRAIN), other.cert, other.key) == 0
    with pytest.raises(ssl.SSLCertVerificationError):
        _grpc_handshake(train_gcs, files.ca_cert, own.cert, own.key)


def test_a_job_runs_on_a_tls_cluster_and_logs_to_the_https_registry(
    secured: TestPlatform,
) -> None:
    done = secured.cli("ingest", "--json", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"digest"' in done.stdout


def test_serve_proxy_speaks_https_to_clients_with_the_ca(secured: TestPlatform) -> None:
    platform = Platform(secured.settings)
    assert platform.settings.tls and platform.settings.serve.haproxy_ingress
    rendered = render_config(platform, ROOT / "serve_config.yaml")
    zone = PlatformState.load(secured.paths.state_file).zones[Zone.SERVE]
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
    url = f"https://127.0.0.1:{secured.serve_http_port}/v2/health/live"
    ca = str(_files(secured).ca_cert)
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
    predict = f"https://127.0.0.1:{secured.serve_http_port}/v1/predict"
    assert httpx.post(predict, json={"texts": ["x"]}, verify=ca).status_code == 401


def test_deploy_chaos_and_loadtest_work_over_https(secured: TestPlatform, tmp_path: Path) -> None:
    """Every client of the serve API (deploy's readiness check, the chaos harness, Locust)
    verifies the HTTPS endpoint against the platform CA: none of them needs it turned off."""
    state = PlatformState.load(secured.paths.state_file)
    snapshot = state.latest_snapshots.get(secured.settings.default_model)
    assert snapshot is not None, "the ingest test above made one"
    # A prepared bundle: the job above proved training over TLS; this is about the clients.
    champion = prepared_version(secured, snapshot, promote=True).version

    deployed = secured.cli_json("deploy", timeout=400)
    assert deployed["url"].startswith("https://") and "--cacert" in deployed["curl"]
    assert deployed["model_version"] == champion

    chaos = secured.cli("chaos", "--scenario", "hostile-input", "--json", timeout=300)
    assert chaos.returncode == 0, chaos.stderr[-3000:]
    (result,) = json.loads(chaos.stdout)
    assert result["verdict"] == "pass", result["detail"]

    report = tmp_path / "loadtest"
    summary = secured.cli_json("loadtest", "--profile", "smoke", "--report", str(report))
    assert summary["target_url"].startswith("https://")
    assert summary["overall"]["requests"] > 0 and summary["overall"]["failures"] == 0
    assert set(summary["versions_seen"]) == {champion}
