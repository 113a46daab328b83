"""The TorchTrainer the train job and its benchmark both run, on the train cluster."""

from __future__ import annotations

import logging
from typing import Any

from training.schema import TrainConfig, TrainJobSpec


def flat_params(config: TrainConfig) -> dict[str, Any]:
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
