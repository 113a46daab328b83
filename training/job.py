"""Entry point of the train Ray job: ``python -m training.job <base64 spec>``.

On the train cluster: TorchTrainer fine-tunes, then this driver evaluates the exported ONNX
model on the held-out split, writes the bundle, registers it with its evidence and runs the
gate. The last line is ``BULKHEAD_RESULT {json}`` or ``BULKHEAD_ERROR <why>``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contracts import jobs
from contracts.jobs import JobExit, error_line, result_line
from registry import bundle
from registry.gate import Evidence, beats_champion
from registry.gate import evaluate as gate_evaluate
from training.schema import TrainConfig, TrainJobSpec, TrainResult


def _log(message: str) -> None:
    print(f"[train] {message}", flush=True)


def _maybe_crash(spec: TrainJobSpec, point: str) -> None:
    if spec.inject_fault == point:
        _log(f"injected fault: the job dies {point}")
        os._exit(70)  # no cleanup, no finally: as a killed process would


def decode_spec(encoded: str) -> TrainJobSpec:
    return jobs.decode_spec(TrainJobSpec, encoded)


def _flat_params(config: TrainConfig) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in config.model_dump(mode="json").items():
        if isinstance(value, dict):
            params.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            params[key] = value
    return params


def make_trainer(spec: TrainJobSpec, run_id: str | None, name: str) -> Any:
    """The TorchTrainer both the training job and its benchmark run."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from training.loop import train_loop_per_worker

    config = spec.config
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "config": config.model_dump(mode="json"),
            "snapshot": str(spec.snapshot),
            "mlflow_run_id": run_id,
        },
        scaling_config=ScalingConfig(
            num_workers=config.num_workers,
            use_gpu=config.use_gpu,
            resources_per_worker={"CPU": config.cpus_per_worker},
        ),
        run_config=RunConfig(
            name=name,
            storage_path=str(spec.storage_path),
            failure_config=FailureConfig(max_failures=config.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
    )


def fit(spec: TrainJobSpec, run_id: str) -> Any:
    """Run the TorchTrainer on the train cluster; returns its result (final checkpoint)."""
    import ray

    ray.init(address=spec.ray_address, logging_level=logging.WARNING)
    try:
        result = make_trainer(spec, run_id, f"train-{run_id[:12]}").fit()
    finally:
        ray.shutdown()
    if result.checkpoint is None:
        raise RuntimeError("training finished without a checkpoint")
    return result


def build_bundle(
    spec: TrainJobSpec, checkpoint: Any, folder: Path, run_id: str, artifacts: Path
) -> dict[str, float]:
    """Export, evaluate (fp32 and int8), measure parity and latency, write the bundle."""
    import torch

    from training import evaluate, export
    from training.data import load_snapshot
    from training.loop import STATE_FILE
    from training.modeling import build_model, load_tokenizer

    config = spec.config
    torch.set_num_threads(2)
    data = load_snapshot(spec.snapshot, config.max_train_examples, config.seed)
    tokenizer = load_tokenizer()
    model = build_model(config.backbone, len(data.label_names), config.seed)
    with checkpoint.as_directory() as ckpt:
        state = torch.load(Path(ckpt) / STATE_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()

    fp32 = folder / bundle.MODEL_FP32
    names = export.export_onnx(model, tokenizer, fp32, config.max_length)
    session = export.ort_session(fp32, threads=2)
    test = data.test
    parity = export.parity(model, tokenizer, session, test.texts, names, config.max_length)
    _log(f"exported ONNX opset {export.OPSET}; torch vs ONNX max |diff| {parity:.2e}")

    logits = export.ort_logits(session, tokenizer, test.texts, names, config.max_length)
    predicted = logits.argmax(-1)
    metrics = evaluate.classification_metrics(test.labels, predicted, data.label_names)
    metrics["parity_max_abs_diff"] = parity
    evaluate.confusion_png(test.labels, predicted, data.label_names, artifacts / "confusion.png")

    def predict(texts: list[str]) -> Any:
        return export.ort_logits(session, tokenizer, texts, names, config.max_length)

    metrics.update(evaluate.behaviour_checks(predict, data.label_names, test.texts))
    single = export.ort_session(fp32, threads=1)
    latency = export.latency_ms(
        single, tokenizer, test.texts[: config.latency_samples], names, config.max_length
    )
    metrics["latency_p50_ms"], metrics["latency_p95_ms"] = latency["p50"], latency["p95"]
    _log(
        f"test accuracy {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f}; "
        f"latency p50 {latency['p50']:.2f} ms"
    )

    has_int8 = False
    if config.quantize:
        int8 = folder / bundle.MODEL_INT8
        export.quantize(fp32, int8)
        int8_session = export.ort_session(int8, threads=2)
        int8_pred = export.ort_logits(
            int8_session, tokenizer, test.texts, names, config.max_length
        ).argmax(-1)
        int8_accuracy = export.accuracy_of(int8_pred, test)
        int8_latency = export.latency_ms(
            export.ort_session(int8, threads=1),
            tokenizer,
            test.texts[: config.latency_samples],
            names,
            config.max_length,
        )
        metrics["int8_accuracy"] = int8_accuracy
        metrics["int8_latency_p50_ms"] = int8_latency["p50"]
        has_int8 = metrics["accuracy"] - int8_accuracy <= config.int8_max_accuracy_drop
        if not has_int8:
            int8.unlink()
        _log(
            f"int8 accuracy {int8_accuracy:.4f} p50 {int8_latency['p50']:.2f} ms: "
            f"{'kept' if has_int8 else 'dropped (accuracy loss above the limit)'}"
        )

    golden = test.texts[: config.golden_examples]
    export.write_golden(folder, golden, logits[: len(golden)], data.label_names)
    export.write_labels(folder, data.label_names)
    tokenizer.save_pretrained(str(folder / bundle.TOKENIZER_DIR))
    bundle.write_manifest(
        folder,
        labels=data.label_names,
        max_length=config.max_length,
        input_names=names,
        opset=export.OPSET,
        has_int8=has_int8,
        dataset_digest=data.manifest.digest,
        training_run_id=run_id,
    )
    bundle.verify(folder)
    return metrics


def run(spec: TrainJobSpec) -> TrainResult:
    import mlflow
    from mlflow import MlflowClient

    from contracts.snapshot import load_manifest
    from registry.credentials import RegistryCredentials
    from registry.writer import RegistryWriter

    started = time.monotonic()
    snapshot_manifest = load_manifest(spec.snapshot)
    credentials = RegistryCredentials.from_environment()
    if credentials is None:
        raise RuntimeError("the train zone was started without registry credentials")
    credentials.activate()
    client = MlflowClient()
    experiment = mlflow.set_experiment(spec.experiment_name)
    run = client.create_run(
        experiment.experiment_id,
        run_name=f"train-{spec.config.preset}-{snapshot_manifest.digest[:8]}",
        tags={
            "bulkhead.zone": "train",
            "bulkhead.dataset_digest": snapshot_manifest.digest,
            "bulkhead.code_version": spec.code_version,
        },
    )
    run_id: str = run.info.run_id
    client.log_batch(
        run_id,
        params=[mlflow.entities.Param(k, str(v)) for k, v in _flat_params(spec.config).items()],
    )
    _log(f"MLflow run {run_id}; {spec.config.num_workers} worker(s), use_gpu={spec.config.use_gpu}")
    try:
        result = fit(spec, run_id)
        with tempfile.TemporaryDirectory() as tmp:
            folder, artifacts = Path(tmp) / "bundle", Path(tmp) / "artifacts"
            folder.mkdir()
            artifacts.mkdir()
            metrics = build_bundle(spec, result.checkpoint, folder, run_id, artifacts)
            client.log_batch(
                run_id,
                metrics=[
                    mlflow.entities.Metric(k, v, int(time.time() * 1000), 0)
                    for k, v in metrics.items()
                ],
            )
            client.log_artifacts(run_id, str(artifacts), "evaluation")
            writer = RegistryWriter(spec.model_name, client)
            logged = writer.log_bundle(run_id, folder)
        tags = {key: f"{value:.6g}" for key, value in metrics.items()}
        tags.update(
            {
                "dataset_digest": snapshot_manifest.digest,
                "code_version": spec.code_version,
                "training_run_id": run_id,
                "preset": spec.config.preset,
            }
        )
        version = writer.register(run_id, logged, tags)
        _log(f"registered {spec.model_name} version {version}")
        _maybe_crash(spec, "after-register")
        champion = writer.alias_version("champion")
        champion_evidence = writer.evidence(champion) if champion else None
        candidate = Evidence(
            accuracy=metrics["accuracy"],
            macro_f1=metrics["macro_f1"],
            parity_max_abs_diff=metrics["parity_max_abs_diff"],
            dataset_digest=snapshot_manifest.digest,
        )
        gate = gate_evaluate(spec.config.gate, candidate, champion_evidence, champion)
        writer.record_gate(version, gate)
        _maybe_crash(spec, "after-gate")
        promoted = False
        if gate.passed and spec.auto_promote:
            if beats_champion(spec.config.gate, candidate, champion_evidence):
                writer.promote(version, reason="auto-promote: passed the gate")
                promoted = True
            else:
                _log(
                    f"not promoted: accuracy {candidate.accuracy:.4f} does not beat champion "
                    f"v{champion} ({champion_evidence.accuracy:.4f}); aliased challenger"
                    if champion_evidence
                    else "not promoted"
                )
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return TrainResult(
        version=version,
        run_id=run_id,
        metrics=metrics,
        gate=gate,
        promoted=promoted,
        champion=writer.alias_version("champion"),
        seconds=round(time.monotonic() - started, 1),
    )


def spec_from_argv(argv: list[str]) -> TrainJobSpec | None:
    """The spec from ``<base64 spec>`` (the CLI) or ``--spec-file FILE`` (a KubeRay RayJob,
    whose snapshot may be the snapshots folder: its newest snapshot is used)."""
    from contracts.snapshot import resolve

    if len(argv) == 2:
        spec = decode_spec(argv[1])
    elif len(argv) == 3 and argv[1] == "--spec-file":
        spec = TrainJobSpec.model_validate_json(Path(argv[2]).read_text())
    else:
        return None
    return spec.model_copy(update={"snapshot": resolve(spec.snapshot)})


def main(argv: list[str]) -> int:
    try:
        spec = spec_from_argv(argv)
    except (OSError, ValueError) as err:
        print(error_line(f"unreadable job spec: {err}"), flush=True)
        return JobExit.BAD_INPUT
    if spec is None:
        print(
            error_line("usage: python -m training.job <base64 spec> | --spec-file FILE"), flush=True
        )
        return JobExit.BAD_INPUT
    from contracts.snapshot import SnapshotError

    try:
        result = run(spec)
    except (SnapshotError, FileNotFoundError) as err:
        print(error_line(f"snapshot unusable: {err}"), flush=True)
        return JobExit.BAD_INPUT
    print(result_line(result), flush=True)
    if not result.gate.passed:
        print(
            error_line(
                f"version {result.version} failed the gate: " + "; ".join(result.gate.reasons)
            ),
            flush=True,
        )
        return JobExit.GATE_FAILED
    return JobExit.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv))
