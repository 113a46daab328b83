"""The peers' launch plans: every peer has a wire format, a script that exists, its own
environment (never Bulkhead's packages moved), and the model runtime pinned to ours."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from loadtests.bench import peers, wire
from loadtests.peer_servers.text_model import TextModel
from tests.utils.bundles import make_bundle


def test_every_stack_has_a_wire_format() -> None:
    from bulkhead.harness.bench import SYSTEMS

    assert set(SYSTEMS) == set(wire.TARGETS)
    route, body = wire.request("kserve-v1", "sentiment")
    assert route == "/v1/models/sentiment:predict" and body("x") == {"instances": ["x"]}
    route, body = wire.request("mlserver", "m")
    assert route == "/v2/models/m/infer" and body("x")["inputs"][0]["datatype"] == "BYTES"


def test_launch_plans_run_in_their_own_folder_with_existing_scripts(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    for peer in peers.PEERS.values():
        plan = peers.launch(peer, "/envs/python", bundle, 8123, 2, tmp_path / peer.key, "m")
        assert plan.cwd == str(tmp_path / peer.key) and Path(plan.cwd).is_dir()
        scripts = [Path(a) for a in plan.command if a.endswith(".py")]
        assert all(s.is_file() for s in scripts), plan.command
        assert "8123" in plan.command
        assert plan.env["PYTHONPATH"] == str(peers.PEER_SERVERS)
        if peer.environment is not None:
            assert peer.packages and all("==" in pin for pin in peer.packages)


def test_the_model_runtime_is_pinned_to_bulkheads_own() -> None:
    pins = peers.model_pins()
    assert f"onnxruntime=={version('onnxruntime')}" in pins
    assert f"tokenizers=={version('tokenizers')}" in pins


def test_the_peers_model_gives_bulkheads_answers(tmp_path: Path) -> None:
    from serving.predictor import ModelInfo, Predictor

    bundle = make_bundle(tmp_path / "v")
    texts = ["a fine film", "dull and far too long"]
    theirs = TextModel(bundle, threads=1).predict(texts)
    ours = Predictor(bundle, ModelInfo("m", "1", None, "fp32")).predict(texts)
    assert [p["label"] for p in theirs] == [p.label for p in ours]
    assert all(abs(t["score"] - o.score) < 1e-5 for t, o in zip(theirs, ours, strict=True))
