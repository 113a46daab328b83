"""`bulkhead up --serve-nodes 2`: the serve zone as a Ray cluster of two nodes behind the front
balancer, on a platform of its own (the session platform runs one serve node), serving one
model. Every fault runs through `bulkhead chaos`, the command users run, under closed-loop load
through the balancer, every request counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from bulkhead.platform.procs import session_members
from bulkhead.platform.state import BALANCER, PlatformState
from tests.utils.bundles import make_bundle, register_bundle, trainer_writer
from tests.utils.platform import TestPlatform
from tests.utils.signing import sign_as_signer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
ONE_MODEL = (("BULKHEAD_MODELS", json.dumps({"sentiment": {"dataset": "rotten_tomatoes"}})),)


def _leaders(platform: TestPlatform) -> list[int]:
    state = PlatformState.load(platform.paths.state_file)
    leaders = [z.process.pid for z in state.zones.values()]
    leaders += [r.pid for r in state.serve_workers().values()]
    front = state.process(BALANCER)
    leaders += [front.pid] if front else []
    return leaders + ([state.registry.process.pid] if state.registry else [])


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPlatform]:
    tmp = tmp_path_factory.mktemp("nodes")
    platform = TestPlatform(
        home=tmp / ".bulkhead",
        registry_port=15700,
        serve_http_port=18700,
        port_base=12000,
        extra_env=ONE_MODEL,
    )
    done = platform.cli("up", "--serve-nodes", "2", "--no-pipeline", timeout=300)
    leaders: list[int] = []
    try:
        assert done.returncode == 0, done.stderr[-4000:]
        leaders = _leaders(platform)
        # A real bundle registered as the trainer would (the training path has its own
        # tests): these scenarios are about nodes, and ingest + train cost ~75 s here.
        with trainer_writer(platform) as writer:
            version = register_bundle(writer, make_bundle(tmp / "bundle"), "two-nodes")
        sign_as_signer(platform, "sentiment", version)
        promoted = platform.cli("promote", version, "--reason", "test: the nodes' champion")
        assert promoted.returncode == 0, promoted.stderr[-2000:]
        config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
        config["applications"] = config["applications"][:1]  # the one configured model
        one_app = tmp / "serve_config.one.yaml"
        one_app.write_text(yaml.safe_dump(config, sort_keys=False))
        deployed = platform.cli("deploy", str(one_app), timeout=400)
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        yield platform
    finally:
        down = platform.cli("down", timeout=300)
        left = {pid: session_members(pid) for pid in leaders}
        assert down.returncode == 0, down.stderr[-3000:]
        assert "drain and stop the front balancer" in down.stdout + down.stderr
        assert all(not members for members in left.values()), left


def _chaos(platform: TestPlatform, scenario: str) -> dict[str, Any]:
    # --quick: 2-s steady windows around each fault, 5 s on one node after a node's loss.
    done = platform.cli("chaos", "--scenario", scenario, "--quick", "--json", timeout=400)
    results = json.loads(done.stdout) if done.stdout.strip() else []
    assert results, done.stderr[-3000:]
    result: dict[str, Any] = results[0]
    print(
        f"\n{scenario} on 2 serve nodes: {result['requests']} requests, {result['failed']} "
        f"failed ({result['http_errors']} HTTP: {result['counts']['status_codes']}, "
        f"{result['connection_errors']} connection); recovery {result['recovery_s']} s; "
        f"{result['fault']}; {result['detail']}; "
        f"first failures: {result['counts'].get('first_failures')}"
    )
    return result


def test_each_node_has_its_own_ingress_and_replica_behind_the_balancer(
    two_nodes: TestPlatform,
) -> None:
    status = two_nodes.cli_json("status")
    nodes = status["serve_nodes"]
    assert [n["node"] for n in nodes] == [0, 1]
    assert all(n["state"] == "running" and n["balancer_check"] == "UP" for n in nodes), nodes
    assert status["balancer_pid"] is not None
    assert status["serve_url"] == f"http://127.0.0.1:{two_nodes.serve_http_port}"
    key = two_nodes.secret("serve-api-key")
    for node in nodes:  # each node's own ingress answers by itself
        ready = httpx.get(f"http://{node['ingress']}/v2/health/ready", timeout=5)
        assert ready.status_code == 200, (node, ready.text)
    answer = httpx.post(
        f"{status['serve_url']}/v1/predict",
        json={"texts": ["a fine film"]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    # One replica on each node: losing a node never takes the model's every replica.
    state = PlatformState.load(two_nodes.paths.state_file)
    sessions = [z.process.pid for z in state.zones.values() if z.zone.value == "serve"]
    sessions += [r.pid for r in state.serve_workers().values()]
    per_node = [
        sum("ray::ServeReplica:sentiment:" in " ".join(_cmdline(p)) for p in session_members(pid))
        for pid in sessions
    ]
    assert per_node == [1, 1], per_node


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def test_a_killed_replica_fails_no_request(two_nodes: TestPlatform) -> None:
    result = _chaos(two_nodes, "replica-crash")
    assert result["verdict"] == "pass", result
    assert result["counts"]["ok"] > 100


def test_a_killed_node_ingress_is_routed_around_and_comes_back(two_nodes: TestPlatform) -> None:
    """The goal is 0 failed (the scenario's verdict says whether it was met). Six runs failed
    0, 0, 0, 1 of 11,756, 1 of 9,122 and 2 of 9,963: each failure a request sent at the kill
    instant whose keep-alive connection closed without an answer, which the balancer logged
    no failure for (the same 1-2 as every kill of the other scenarios). The test holds the
    bound the node faults hold, 1 in 1,000; without the balancer 2,840 of 4,896 failed."""
    result = _chaos(two_nodes, "ingress-crash")
    assert result["recovery_s"] is not None, result
    assert result["failed"] <= 0.001 * result["requests"], result
    assert result["counts"]["ok"] > 100
    assert "node 0's ingress" in result["fault"]


def test_a_lost_worker_node_costs_at_most_a_thousandth_and_rejoins(
    two_nodes: TestPlatform,
) -> None:
    result = _chaos(two_nodes, "node-loss")
    assert result["verdict"] == "pass", result
    assert result["failed"] <= 0.001 * result["requests"]
    assert "node 1 UP" in result["detail"]
    status = two_nodes.cli_json("status")
    assert all(n["balancer_check"] == "UP" for n in status["serve_nodes"])


def test_a_rolling_restart_of_the_worker_nodes_fails_no_request(two_nodes: TestPlatform) -> None:
    """Each worker node is drained at the balancer *and in Ray* (`ray drain-node`) before it
    stops: Serve takes its replicas out of every node's ingress and stops them gracefully, so
    nothing the head's ingress sent to them is cut. Before the Ray drain, runs here lost 0 of
    21,914 and 2 of 13,071 (requests the head's ingress had in flight on the stopped node's
    replicas); with it, 0 of 8,599, 7,237 and 7,440."""
    result = _chaos(two_nodes, "rolling-restart")
    assert result["recovery_s"] is not None, result  # every node back in rotation
    assert "replicas stopped by Serve" in result["detail"], result["detail"]
    assert result["failed"] == 0, result
    assert result["counts"]["ok"] > 100
    assert "node 1" in result["detail"] and "not back" not in result["detail"]
    status = two_nodes.cli_json("status")
    assert all(n["balancer_check"] == "UP" for n in status["serve_nodes"]), status["serve_nodes"]


def test_a_replica_without_a_verified_model_gets_no_traffic(
    two_nodes: TestPlatform,
) -> None:
    """The registry down, a replica killed: Serve starts the replacement, which cannot fetch a
    model. Its start is held while the registry cannot be reached (``start_hold_s``), so Serve
    routes nothing to it; it joins once the registry is back and it has loaded the champion.
    Before the hold it entered rotation empty and answered 76 of 20,707 requests 503 until
    the ingress's health check caught it; without either, ~25 % of them."""
    result = _chaos(two_nodes, "replica-without-model")
    assert "its start was held while the registry was down" in result["detail"], result
    assert result["recovery_s"] is not None, result
    # No answer from an empty replica ("no model loaded yet" is a 503); what the kill itself
    # may cost are the requests the killed replica held (0-2 measured on the other kills).
    assert "503" not in result["counts"]["status_codes"], result
    assert result["failed"] <= 3, result
    assert result["counts"]["ok"] > 100
