"""A real (tiny, randomly initialised) model bundle, exported the way training exports it."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contracts.tags import GATE_FAILED_TAG, GATE_PASSED_TAG
from registry import bundle

if TYPE_CHECKING:
    from registry.writer import RegistryWriter
    from tests.utils.platform import TestPlatform


def make_bundle(
    folder: Path,
    with_int8: bool = False,
    labels: tuple[str, ...] = ("fresh", "rotten"),
    dataset_digest: str = "0" * 64,
) -> Path:
    """A tiny randomly initialised classifier over ``labels``, exported and described exactly
    as the train job exports a trained one (ONNX, golden outputs, tokenizer, manifest)."""
    from training import export
    from training.modeling import build_model, load_tokenizer
    from training.schema import Backbone

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer()
    model = build_model(Backbone.TINY, len(labels), seed=0)
    names = export.export_onnx(model, tokenizer, folder / bundle.MODEL_FP32, 32)
    session = export.ort_session(folder / bundle.MODEL_FP32)
    texts = ["a wonderful film", "dull and far too long", "fine", "x " * 40]
    logits = export.ort_logits(session, tokenizer, texts, names, 32)
    if with_int8:
        export.quantize(folder / bundle.MODEL_FP32, folder / bundle.MODEL_INT8)
    export.write_golden(folder, texts, logits, list(labels))
    export.write_labels(folder, list(labels))
    tokenizer.save_pretrained(str(folder / bundle.TOKENIZER_DIR))
    bundle.write_manifest(
        folder,
        labels=list(labels),
        max_length=32,
        input_names=names,
        opset=export.OPSET,
        has_int8=with_int8,
        dataset_digest=dataset_digest,
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


def stamped_with_run(folder: Path, run_id: str, into: Path) -> Path:
    """A copy of ``folder`` whose manifest names ``run_id``, as the train job writes its own
    run into every bundle (the signer refuses a version whose bundle names another run)."""
    copy = Path(shutil.copytree(folder, into / "bundle"))
    fields = bundle.verify(copy).model_dump(exclude={"files"})
    bundle.write_manifest(copy, **{**fields, "training_run_id": run_id})
    return copy


def register_bundle(
    writer: RegistryWriter,
    folder: Path,
    run_name: str,
    tags: dict[str, str] | None = None,
    run_ids: list[str] | None = None,
    stamp_run: bool = False,
) -> str:
    """Log ``folder`` as a run's bundle and register it with a passed gate (and ``tags``), as
    training does after its evaluation: approved on paper, so only serving's own checks judge
    it. The run's id is appended to ``run_ids`` when given. ``stamp_run``: the bundle logged
    names its run, as a trained one does (never for a bundle broken on purpose: stamping
    writes a fresh manifest)."""
    client = writer.client
    experiment = client.get_experiment_by_name("bulkhead")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("bulkhead")
    run = client.create_run(experiment_id, run_name=run_name)
    if stamp_run:
        with tempfile.TemporaryDirectory(prefix="prepared-bundle-") as scratch:
            stamped = stamped_with_run(folder, run.info.run_id, Path(scratch))
            logged = writer.log_bundle(run.info.run_id, stamped)
    else:
        logged = writer.log_bundle(run.info.run_id, folder)
    client.set_terminated(run.info.run_id)
    version: str = writer.register(
        run.info.run_id, logged, {**(tags or {}), GATE_PASSED_TAG: "true"}
    )
    if run_ids is not None:
        run_ids.append(run.info.run_id)
    return version


@dataclass(frozen=True)
class Prepared:
    """A registered version of a prepared bundle."""

    version: str
    run_id: str


# One tiny bundle per label set and snapshot, built once per test session, with its held-out
# figures measured as the train job measures them.
_BUILT: dict[tuple[tuple[str, ...], str], tuple[Path, dict[str, float]]] = {}


def held_out_figures(folder: Path, snapshot: Path) -> dict[str, float]:
    """Accuracy and macro-F1 on the snapshot's test split, the train job's way (its tokenizer,
    its ONNX feed, scikit-learn): the evidence a trained version carries, so the model
    signer, which measures again, finds it true."""
    from signer.evaluate import held_out
    from training import evaluate, export
    from training.modeling import load_tokenizer

    written = bundle.verify(folder)
    texts, labels = held_out(snapshot)  # the split the signer reads, read the same way
    session = export.ort_session(folder / bundle.MODEL_FP32)
    logits = export.ort_logits(
        session, load_tokenizer(), texts, written.input_names, written.max_length
    )
    truth = [written.labels.index(label) for label in labels]
    metrics = evaluate.classification_metrics(truth, logits.argmax(axis=1), written.labels)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def prepared_version(
    platform: TestPlatform,
    snapshot: Path,
    model: str = "sentiment",
    *,
    promote: bool = False,
    gate_passed: bool = True,
    env: dict[str, str] | None = None,
) -> Prepared:
    """A version of ``model`` registered as the train job registers one (its evidence tags,
    the snapshot's digest for lineage, a passed gate) from a tiny real bundle over the
    snapshot's labels: for the tests about serving, rollouts and models, where training is
    not the subject (the train job takes ~1 min here; this, seconds). The model signer signs
    it (its evidence is true). Promoted through the CLI when ``promote``, once signed; with
    ``gate_passed`` False, tagged as failing its gate."""
    from contracts.snapshot import load_manifest
    from contracts.tags import (
        ACCURACY_TAG,
        DATASET_DIGEST_TAG,
        MACRO_F1_TAG,
        PARITY_TAG,
        TRAINING_RUN_TAG,
    )

    manifest = load_manifest(snapshot)
    key = (tuple(manifest.labels), manifest.digest)
    if key not in _BUILT:
        scratch = Path(tempfile.mkdtemp(prefix="prepared-bundle-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # left in /tmp otherwise
        folder = scratch / "bundle"
        made = make_bundle(folder, with_int8=True, labels=key[0], dataset_digest=manifest.digest)
        _BUILT[key] = (made, held_out_figures(made, snapshot))
    built, figures = _BUILT[key]
    # Evidence as a barely trained model's, measured (any real training beats it at the gate).
    tags = {
        ACCURACY_TAG: f"{figures['accuracy']:.6g}",
        MACRO_F1_TAG: f"{figures['macro_f1']:.6g}",
        PARITY_TAG: "0",
        DATASET_DIGEST_TAG: manifest.digest,
    }
    run_ids: list[str] = []
    with trainer_writer(platform, model) as writer:
        version = register_bundle(writer, built, f"prepared-{model}", tags, run_ids, stamp_run=True)
        writer.client.set_model_version_tag(model, version, TRAINING_RUN_TAG, run_ids[0])
        if not gate_passed:  # as the train job records a failed gate
            writer.client.set_model_version_tag(model, version, GATE_PASSED_TAG, "false")
            writer.client.set_model_version_tag(
                model, version, GATE_FAILED_TAG, "accuracy 0.5000 below the floor 0.7000"
            )
    if promote:
        # Promoted once signed (a replica loads nothing unsigned): served at once, not a
        # poll after the signer's verdict lands.
        verdict = signer_verdict(platform, version, model, env=env)
        assert verdict.startswith("signed"), f"{model} v{version}: {verdict}"
        done = platform.cli(
            "promote", version, "--model", model, "--reason", "test: prepared bundle", env=env
        )
        assert done.returncode == 0, done.stderr[-2000:]
    return Prepared(version=version, run_id=run_ids[0])


def signer_verdict(
    platform: TestPlatform,
    version: str,
    model: str = "sentiment",
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
) -> str:
    """The model signer's verdict on ``version`` as `bulkhead models` shows it, once it has
    one (the signer passes every 2 s; a verdict is final). ``env``: settings the model
    needs (one added by config)."""
    import time

    deadline = time.monotonic() + timeout_s
    verdict = "waiting"
    while time.monotonic() < deadline:
        listed = platform.cli_json("models", "--model", model, env=env)
        rows = {row["version"]: row for row in listed}
        verdict = str(rows[version]["signature"])
        if verdict != "waiting":
            return verdict
        time.sleep(0.5)
    return verdict
