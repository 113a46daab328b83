"""Every benchmark peer, installed into its own environment and started as `bulkhead bench`
starts it, answers its own wire format with Bulkhead's predictions for the same bundle.

No platform needed: a tiny real bundle, each peer's server, one request each. (A peer that
answered errors once counted as the fastest stack in a bench run; this is the guard.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from loadtests.bench import peers, wire
from loadtests.bench.servers import free_port
from loadtests.peer_servers.text_model import TextModel
from tests.utils.bundles import make_bundle

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXT = "a wonderful film"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("peer-bundle") / "v")


def _label(target: str, body: object) -> str:
    if target in ("kserve-v2", "mlserver"):
        outputs = {o["name"]: o for o in body["outputs"]}  # type: ignore[index]
        return str(outputs["label"]["data"][0])
    if target == "bentoml":
        return str(body[0]["label"])  # type: ignore[index]
    return str(body["predictions"][0]["label"])  # type: ignore[index]


@pytest.mark.parametrize("key", sorted(peers.PEERS))
def test_each_peer_serves_the_bundle_in_its_own_environment(
    key: str, peer_home: Path, bundle: Path, tmp_path: Path
) -> None:
    home = peer_home  # KServe's v1 and v2 legs (and the OIP client checks) share one
    peer = peers.PEERS[key]
    python = peers.environment_python(home, peer, print)
    if peer.environment is None:
        assert python == sys.executable
    else:  # its own interpreter, never Bulkhead's
        assert Path(python).is_relative_to(home / "peers")
    port = free_port()
    plan = peers.launch(peer, python, bundle, port, 1, tmp_path / key, "sentiment")
    route, body = wire.request(key, "sentiment")
    with plan.server(peer.name, tmp_path / f"{key}.log"):
        answer = httpx.post(f"http://127.0.0.1:{port}{route}", json=body(TEXT), timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    assert _label(key, answer.json()) == TextModel(bundle).predict([TEXT])[0]["label"]
