"""Ray Train overhead benchmark: ``python -m training.benchmark <base64 spec>`` (a Ray job).

Runs the same model, data, batch size and steps twice on the same train-zone node, one after
the other: a plain single-process torch loop, then the TorchTrainer. Both time only the
training steps (model loading and worker start-up are reported separately), so the ratio is
Ray Train's cost per step. Goal: Ray Train throughput >= 0.9 x the plain loop.
"""

from __future__ import annotations

import logging
import sys
import time

from contracts.jobs import result_line
from training.job import decode_spec
from training.schema import TrainBenchResult, TrainJobSpec
from training.trainer import make_trainer


def run(spec: TrainJobSpec) -> TrainBenchResult:
    import ray

    from training.loop import plain_loop_throughput

    config = spec.config
    started = time.perf_counter()
    plain = plain_loop_throughput(spec.snapshot, config)
    plain_wall = time.perf_counter() - started
    print(f"[train] plain loop: {plain:.1f} examples/s", flush=True)

    ray.init(address=spec.ray_address, logging_level=logging.WARNING)
    try:
        started = time.perf_counter()
        result = make_trainer(spec, None, "train-benchmark").fit()
        ray_wall = time.perf_counter() - started
    finally:
        ray.shutdown()
    if not result.metrics:
        raise RuntimeError("the TorchTrainer reported no metrics")
    ray_rate = float(result.metrics["train_examples_per_s"])
    print(f"[train] Ray Train: {ray_rate:.1f} examples/s", flush=True)
    return TrainBenchResult(
        examples=config.max_train_examples or 0,
        epochs=config.epochs,
        threads=config.torch_threads or int(config.cpus_per_worker),
        plain_examples_per_s=plain,
        ray_train_examples_per_s=ray_rate,
        ratio=ray_rate / plain,
        plain_wall_s=plain_wall,
        ray_train_wall_s=ray_wall,
    )


if __name__ == "__main__":
    outcome = run(decode_spec(sys.argv[1]))
    print(result_line(outcome), flush=True)
