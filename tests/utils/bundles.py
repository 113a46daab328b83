"""A real (tiny, randomly initialised) model bundle, exported the way training exports it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from registry import bundle

if TYPE_CHECKING:
    from registry.writer import RegistryWriter
    from tests.utils.platform import TestPlatform


def make_bundle(folder: Path, with_int8: bool = False) -> Path:
    from training import export
    from training.modeling import build_model, load_tokenizer
    from training.schema import Backbone

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer()
    model = build_model(Backbone.TINY, 2, seed=0)
    names = export.export_onnx(model, tokenizer, folder / bundle.MODEL_FP32, 32)
    session = export.ort_session(folder / bundle.MODEL_FP32)
    texts = ["a wonderful film", "dull and far too long", "fine", "x " * 40]
    logits = export.ort_logits(session, tokenizer, texts, names, 32)
    if with_int8:
        export.quantize(folder / bundle.MODEL_FP32, folder / bundle.MODEL_INT8)
    export.write_golden(folder, texts, logits, ["fresh", "rotten"])
    export.write_labels(folder, ["fresh", "rotten"])
    tokenizer.save_pretrained(str(folder / bundle.TOKENIZER_DIR))
    bundle.write_manifest(
        folder,
        labels=["fresh", "rotten"],
        max_length=32,
        input_names=names,
        opset=export.OPSET,
        has_int8=with_int8,
        dataset_digest="0" * 64,
        training_run_id="test",
    )
    return folder


@contextmanager
def trainer_writer(platform: TestPlatform, model: str = "sentiment") -> Iterator[RegistryWriter]:
    """The registry writer as the platform's `trainer` user (its credentials in the env, as
    a training job has them)."""
    from mlflow import MlflowClient

    from registry.credentials import RegistryCredentials
    from registry.writer import RegistryWriter

    credentials = RegistryCredentials.from_file(platform.paths.registry_credentials("trainer"))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in credentials.client_env().items():
            patch.setenv(key, value)
        yield RegistryWriter(model, MlflowClient(tracking_uri=credentials.tracking_uri))


def register_bundle(writer: RegistryWriter, folder: Path, run_name: str) -> str:
    """Log ``folder`` as a run's bundle and register it with a passed gate, as training does
    after its evaluation: approved on paper, so only serving's own checks judge it."""
    client = writer.client
    experiment = client.get_experiment_by_name("bulkhead")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("bulkhead")
    run = client.create_run(experiment_id, run_name=run_name)
    logged = writer.log_bundle(run.info.run_id, folder)
    client.set_terminated(run.info.run_id)
    version: str = writer.register(run.info.run_id, logged, {"gate.passed": "true"})
    return version
