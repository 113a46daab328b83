"""Entry point of the train Ray job: ``python -m training.job <base64 spec>``.

On the train cluster: TorchTrainer fine-tunes (``trainer``), then this driver evaluates the
exported ONNX model on the held-out split and writes the bundle (``bundling``), registers it
with its evidence and runs the gate (``promotion``). The last line is
``BULKHEAD_RESULT {json}`` or ``BULKHEAD_ERROR <why>`` (``contracts.jobs``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contracts import jobs
from contracts.jobs import JobExit, error_line, result_line
from contracts.tags import (
    CHAMPION,
    CODE_VERSION_TAG,
    DATASET_DIGEST_TAG,
    PRESET_TAG,
    TRAINING_RUN_TAG,
)
from training.bundling import build_bundle
from training.progress import log, maybe_crash
from training.promotion import gate_and_promote
from training.schema import TrainJobSpec, TrainResult
from training.trainer import fit, flat_params


def decode_spec(encoded: str) -> TrainJobSpec:
    return jobs.decode_spec(TrainJobSpec, encoded)


def run(spec: TrainJobSpec) -> TrainResult:
    """Fit, build and evaluate the bundle, register it with its evidence, gate, promote."""
    from contracts.snapshot import load_manifest
    from registry.writer import RegistryWriter

    started = time.monotonic()
    digest = load_manifest(spec.snapshot).digest
    client, run_id = open_run(spec, digest)
    try:
        result = fit(spec, run_id)
        with tempfile.TemporaryDirectory() as tmp:
            folder, artifacts = Path(tmp) / "bundle", Path(tmp) / "artifacts"
            folder.mkdir()
            artifacts.mkdir()
            metrics = build_bundle(spec, result.checkpoint, folder, run_id, artifacts)
            log_evaluation(client, run_id, metrics, artifacts)
            writer = RegistryWriter(spec.model_name, client)
            logged = writer.log_bundle(run_id, folder)
        tags = {key: f"{value:.6g}" for key, value in metrics.items()}
        tags.update(
            {
                DATASET_DIGEST_TAG: digest,
                CODE_VERSION_TAG: spec.code_version,
                TRAINING_RUN_TAG: run_id,
                PRESET_TAG: spec.config.preset,
            }
        )
        version = writer.register(run_id, logged, tags)
        log(f"registered {spec.model_name} version {version}")
        maybe_crash(spec.inject_fault, "after-register")
        gate, promoted = gate_and_promote(spec, writer, version, metrics, digest)
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
        champion=writer.alias_version(CHAMPION),
        seconds=round(time.monotonic() - started, 1),
    )


def open_run(spec: TrainJobSpec, dataset_digest: str) -> tuple[Any, str]:
    """An MLflow run as the train zone's registry user, with the whole config as params."""
    import mlflow
    from mlflow import MlflowClient

    from registry.credentials import RegistryCredentials

    credentials = RegistryCredentials.from_environment()
    if credentials is None:
        raise RuntimeError("the train zone was started without registry credentials")
    credentials.activate()
    client = MlflowClient()
    experiment = mlflow.set_experiment(spec.experiment_name)
    run = client.create_run(
        experiment.experiment_id,
        run_name=f"train-{spec.config.preset}-{dataset_digest[:8]}",
        tags={
            "bulkhead.zone": "train",
            "bulkhead.dataset_digest": dataset_digest,
            "bulkhead.code_version": spec.code_version,
        },
    )
    run_id: str = run.info.run_id
    client.log_batch(
        run_id,
        params=[mlflow.entities.Param(k, str(v)) for k, v in flat_params(spec.config).items()],
    )
    log(f"MLflow run {run_id}; {spec.config.num_workers} worker(s), use_gpu={spec.config.use_gpu}")
    return client, run_id


def log_evaluation(client: Any, run_id: str, metrics: dict[str, float], artifacts: Path) -> None:
    import mlflow

    now_ms = int(time.time() * 1000)
    client.log_batch(
        run_id, metrics=[mlflow.entities.Metric(k, v, now_ms, 0) for k, v in metrics.items()]
    )
    client.log_artifacts(run_id, str(artifacts), "evaluation")


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
