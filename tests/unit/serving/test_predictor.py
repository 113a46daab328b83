"""The Ray-free predictor on a real exported bundle: load, verify, self-check, predict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bulkhead.platform.settings import PlatformSettings
from contracts.digest import sha256_file
from registry import bundle
from serving.config import FamilyConfig, ServeAppConfig
from serving.predictor import ModelInfo, ModelLoadError, Predictor
from tests.utils.bundles import make_bundle

INFO = ModelInfo(name="sentiment", version="1", run_id="r", precision="fp32")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(Path(tmp_path_factory.mktemp("bundle")) / "b", with_int8=True)


@pytest.fixture
def copy(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "b"))


def test_predicts_probabilities_that_match_the_export(built: Path) -> None:
    predictor = Predictor(built, INFO)
    predictor.self_check(1e-4)
    out = predictor.predict(["a wonderful film", "dull"])
    assert len(out) == 2
    for prediction in out:
        assert prediction.label in {"fresh", "rotten"}
        assert abs(sum(prediction.scores.values()) - 1) < 1e-5
        assert prediction.score == max(prediction.scores.values())
    # The serving tokenizer (tokenizers) must reproduce training's (transformers) exactly.
    golden = bundle.read_golden(built)
    logits = predictor.logits([g.text for g in golden])
    assert abs(logits - [g.logits for g in golden]).max() < 1e-5


def test_each_prediction_counts_the_tokens_the_tokenizer_could_not_spell(built: Path) -> None:
    """What the monitor's unknown-token rate is built from (a script the vocabulary lacks)."""
    predictor = Predictor(built, ModelInfo("m", "1", None, "fp32"))
    plain, foreign = predictor.predict(["a fine film", "☃☃ ✈ 東京"])
    assert plain.tokens > 0 and plain.unknown_tokens == 0
    assert foreign.tokens > 0 and 0 < foreign.unknown_tokens <= foreign.tokens


def test_int8_is_used_only_when_asked_and_shipped(built: Path) -> None:
    assert Predictor(built, INFO, precision="int8").info.precision == "int8"
    assert Predictor(built, INFO).info.precision == "fp32"


def test_a_lone_call_spins_only_while_it_runs_and_concurrent_calls_never_spin(
    built: Path,
) -> None:
    """Without spinning, the two-thread session of a lone call was no faster than one thread
    (docs/performance.md); spinning past the run would take the cores the next request needs."""
    predictor = Predictor(built, INFO, threads=2)
    lone = predictor._session.get_session_options()
    narrow = predictor._narrow.get_session_options()
    assert lone.intra_op_num_threads == 2 and narrow.intra_op_num_threads == 1
    assert lone.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert narrow.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    for options in (lone, narrow):
        assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    assert (
        predictor.predict(["fine"], alone=True)[0].label
        == predictor.predict(["fine"], alone=False)[0].label
    )


def test_tampered_file_is_rejected(copy: Path) -> None:
    (copy / bundle.LABELS).write_text(json.dumps(["rotten", "fresh"]))
    with pytest.raises(ModelLoadError, match="bundle rejected"):
        Predictor(copy, INFO)


def test_non_onnx_model_is_rejected(copy: Path) -> None:
    (copy / bundle.MODEL_FP32).write_bytes(b"definitely not onnx")
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    from contracts.digest import sha256_file

    manifest["files"][bundle.MODEL_FP32] = sha256_file(copy / bundle.MODEL_FP32)
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model"):
        Predictor(copy, INFO)


def test_failed_golden_self_check_is_rejected(copy: Path) -> None:
    lines = (copy / bundle.GOLDEN).read_text().splitlines()
    first = json.loads(lines[0])
    first["logits"] = [v + 1.0 for v in first["logits"]]
    (copy / bundle.GOLDEN).write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    from contracts.digest import sha256_file

    manifest["files"][bundle.GOLDEN] = sha256_file(copy / bundle.GOLDEN)
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest))
    predictor = Predictor(copy, INFO)
    with pytest.raises(ModelLoadError, match="self-check failed"):
        predictor.self_check(1e-3)


def test_serve_config_yaml_user_config_is_valid() -> None:
    import yaml

    root = Path(__file__).resolve().parents[3]
    config = yaml.safe_load((root / "serve_config.yaml").read_text())
    applications = config["applications"]
    assert applications[0]["route_prefix"] == "/", "the default model answers /v1/predict"
    models = set()
    families = yaml.safe_load((root / "deploy" / "serve_family.yaml").read_text())["applications"]
    for application in applications:
        assert application["import_path"] == "serving.app:app"
        (deployment,) = application["deployments"]
        parsed = ServeAppConfig.model_validate(deployment["user_config"])
        models.add(parsed.model_name)
        # OIP v2 calls for a model reach its application by this name (serving/peers.py).
        assert application["name"] == parsed.model_name
        if application["route_prefix"] != "/":  # a model's own application: its own prefix
            assert application["route_prefix"] == f"/v1/models/{parsed.model_name}"
        assert parsed.limits.max_body_bytes == 65536
        assert deployment["max_queued_requests"] > 0
        assert deployment["max_ongoing_requests"] >= parsed.batching.max_batch_size
    assert len(models) == len(applications), "one application per model"
    for family in families:  # serving/family.py: an ingress and the shared model replicas
        assert family["route_prefix"] == "/v1/family"
        ingress, shared = family["deployments"]
        assert (ingress["name"], shared["name"]) == ("FamilyIngress", "FamilyModels")
        assert ingress["user_config"] == shared["user_config"], "one family, one config"
        members = FamilyConfig.model_validate(shared["user_config"]).members
        # The serve zone is granted read on the configured models only (BULKHEAD_MODELS).
        assert set(members) <= set(PlatformSettings().models), members
    with pytest.raises(ValueError, match="extra"):
        ServeAppConfig.model_validate({"unknown_knob": 1})


def _resign(folder: Path, **changes: object) -> None:
    """Rewrite the manifest's digests (what someone with write access to the files would
    do), optionally changing fields: only content checks can then catch the bundle."""
    manifest = json.loads((folder / bundle.MANIFEST).read_text())
    manifest.update(changes)
    manifest["files"] = {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != bundle.MANIFEST
    }
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest))


def test_a_manifest_changed_after_registration_is_refused(copy: Path) -> None:
    pinned = bundle.manifest_digest(copy)
    Predictor(copy, INFO, manifest_digest=pinned)  # the registered files load
    (copy / bundle.GOLDEN).write_text((copy / bundle.GOLDEN).read_text() + "\n")
    _resign(copy)
    with pytest.raises(ModelLoadError, match="changed after registration"):
        Predictor(copy, INFO, manifest_digest=pinned)


def test_a_file_the_manifest_does_not_list_is_refused(copy: Path) -> None:
    (copy / "tokenizer" / "extra.py").write_text("import os\n")
    with pytest.raises(ModelLoadError, match="does not list"):
        Predictor(copy, INFO)


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.onnx", "tokenizer/../../x", ""])
def test_manifest_paths_outside_the_bundle_are_rejected(copy: Path, path: str) -> None:
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    manifest["files"][path] = "0" * 64
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"leaves the bundle|not a valid bundle manifest"):
        Predictor(copy, INFO)


def test_labels_that_differ_from_the_manifest_are_refused(copy: Path) -> None:
    (copy / bundle.LABELS).write_text(json.dumps(["fresh", "rotten", "meh"]))
    _resign(copy)
    with pytest.raises(ModelLoadError, match="does not match the manifest"):
        Predictor(copy, INFO)


def test_labels_that_do_not_fit_the_logits_fail_the_self_check(copy: Path) -> None:
    # Three labels in both labels.json and the manifest, a model with two logits: every
    # request would fail, so the bundle must never replace a working model.
    (copy / bundle.LABELS).write_text(json.dumps(["a", "b", "c"]))
    _resign(copy, labels=["a", "b", "c"])
    predictor = Predictor(copy, INFO)
    with pytest.raises(ModelLoadError, match="does not fit"):
        predictor.self_check(1e-3)


def test_a_malformed_golden_line_is_a_refusal(copy: Path) -> None:
    (copy / bundle.GOLDEN).write_text('{"text": "x", "label": "fresh"}\nnot json\n')
    _resign(copy)
    with pytest.raises(ModelLoadError, match="malformed"):
        Predictor(copy, INFO).self_check(1e-3)


def test_a_missing_input_name_is_a_refusal(copy: Path) -> None:
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    _resign(copy, input_names=[*manifest["input_names"], "pixel_values"])
    with pytest.raises(ModelLoadError, match=r"not tokenizer outputs|differ from"):
        Predictor(copy, INFO)


def test_an_unknown_output_name_is_a_refusal(copy: Path) -> None:
    _resign(copy, output_name="probabilities")
    with pytest.raises(ModelLoadError, match="no output 'probabilities'"):
        Predictor(copy, INFO)
