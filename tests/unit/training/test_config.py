from pathlib import Path

import pytest
from pydantic import ValidationError

from training.schema import PRESETS, Backbone, load_config


def test_presets() -> None:
    assert load_config("tiny").backbone is Backbone.TINY
    default = load_config("default")
    assert (default.backbone, default.max_train_examples, default.epochs) == (
        Backbone.MINILM,
        2000,
        1,
    )
    assert default.learning_rate == 1e-4 and default.max_length == 64
    assert load_config("full").max_train_examples is None
    assert set(PRESETS) == {"tiny", "default", "full"}


def test_file_then_overrides(tmp_path: Path) -> None:
    file = tmp_path / "train.yaml"
    file.write_text("epochs: 3\ngate:\n  min_accuracy: 0.9\nnum_workers: 2\n")
    config = load_config("default", file, {"num_workers": 4, "use_gpu": None})
    assert config.epochs == 3
    assert config.gate.min_accuracy == 0.9 and config.gate.max_parity_diff == 1e-4
    assert config.num_workers == 4 and config.use_gpu is False


def test_unknown_keys_and_presets_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("epochz: 3\n")
    with pytest.raises(ValidationError, match="epochz"):
        load_config("default", file)
    with pytest.raises(ValueError, match="unknown preset"):
        load_config("huge")


def test_job_spec_comes_from_base64_or_a_spec_file(tmp_path: Path) -> None:
    from contracts.jobs import encode_spec
    from training.job import spec_from_argv
    from training.schema import TrainJobSpec

    spec = TrainJobSpec(
        config=load_config("tiny"),
        snapshot=tmp_path,
        ray_address="127.0.0.1:1",
        storage_path=tmp_path / "ckpt",
        model_name="m",
        experiment_name="e",
    )
    file = tmp_path / "spec.json"
    file.write_text(spec.model_dump_json())
    assert spec_from_argv(["job", encode_spec(spec)]) == spec
    assert spec_from_argv(["job", "--spec-file", str(file)]) == spec
    assert spec_from_argv(["job"]) is None
