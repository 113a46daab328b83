"""The per-worker training loop Ray Train runs (and the plain loop it is benchmarked against).

Data sharding is deterministic: every epoch shuffles the train indices with ``seed + epoch``
and worker ``r`` of ``w`` takes ``indices[r::w]``. A resumed worker therefore sees exactly the
batches it would have seen, and can skip the steps a mid-epoch checkpoint already covers.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from training.data import SnapshotData, Split, load_snapshot
from training.modeling import build_model, load_tokenizer
from training.schema import TrainConfig

STATE_FILE = "state.pt"
PROGRESS_FILE = "progress.json"


def _log(message: str) -> None:
    print(f"[train] {message}", flush=True)


def epoch_order(n: int, seed: int, epoch: int, rank: int, world: int) -> list[int]:
    order = list(range(n))
    random.Random(seed * 1000 + epoch).shuffle(order)
    # Equal shards: every worker takes the same number of steps, so collective calls
    # (gradient all-reduce, ray.train.report) always line up.
    order = order[: (n // world) * world]
    return order[rank::world]


def batches(order: list[int], batch_size: int, start_step: int) -> Iterator[tuple[int, list[int]]]:
    steps = math.ceil(len(order) / batch_size)
    for step in range(start_step, steps):
        yield step, order[step * batch_size : (step + 1) * batch_size]


def encode(tokenizer: Any, texts: list[str], max_length: int) -> Any:
    return tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )


def accuracy(model: Any, tokenizer: Any, split: Split, config: TrainConfig, device: Any) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(split), 128):
            texts = split.texts[start : start + 128]
            enc = encode(tokenizer, texts, config.max_length).to(device)
            predicted = model(**enc).logits.argmax(-1).cpu().tolist()
            correct += sum(
                int(p == y)
                for p, y in zip(predicted, split.labels[start : start + 128], strict=True)
            )
    model.train()
    return correct / max(1, len(split))


def train_steps(
    model: Any,
    optimizer: Any,
    tokenizer: Any,
    data: SnapshotData,
    config: TrainConfig,
    device: Any,
    epoch: int,
    rank: int,
    world: int,
    start_step: int,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[float, int, float]:
    """One epoch (or its remainder). Returns mean loss, examples seen and seconds spent."""
    import torch

    train = data.train
    order = epoch_order(len(train), config.seed, epoch, rank, world)
    labels_all = torch.tensor(train.labels)
    total_loss, seen, started = 0.0, 0, time.perf_counter()
    for step, ids in batches(order, config.batch_size, start_step):
        enc = encode(tokenizer, [train.texts[i] for i in ids], config.max_length).to(device)
        labels = labels_all[ids].to(device)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        total_loss += float(loss.detach()) * len(ids)
        seen += len(ids)
        if on_step is not None:
            on_step(epoch, step + 1)
    return total_loss / max(1, seen), seen, time.perf_counter() - started


def make_optimizer(model: Any, config: TrainConfig) -> Any:
    import torch

    return torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train entry point: one worker of the TorchTrainer."""
    import ray.train
    import ray.train.torch
    import torch

    config = TrainConfig.model_validate(loop_config["config"])
    snapshot = Path(loop_config["snapshot"])
    run_id: str | None = loop_config.get("mlflow_run_id")
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(config.torch_threads or max(1, int(config.cpus_per_worker)))
    torch.manual_seed(config.seed)

    data = load_snapshot(snapshot, config.max_train_examples, config.seed)
    tokenizer = load_tokenizer()
    model = build_model(config.backbone, len(data.label_names), config.seed)
    optimizer = make_optimizer(model, config)
    start_epoch, start_step = 0, 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
            progress = json.loads((Path(folder) / PROGRESS_FILE).read_text())
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, start_step = progress["epoch"], progress["step"]
        _log(f"rank {rank}: resumed from checkpoint at epoch {start_epoch + 1}, step {start_step}")
    model = ray.train.torch.prepare_model(model)
    device = ray.train.torch.get_device()
    plain_model: Any = model.module if hasattr(model, "module") else model
    mlflow_client = _mlflow_client() if (rank == 0 and run_id) else None

    def save(epoch: int, step: int, metrics: dict[str, float]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            chosen = None
            if rank == 0:
                torch.save(
                    {"model": plain_model.state_dict(), "optimizer": optimizer.state_dict()},
                    Path(folder) / STATE_FILE,
                )
                (Path(folder) / PROGRESS_FILE).write_text(
                    json.dumps({"epoch": epoch, "step": step})
                )
                chosen = ray.train.Checkpoint.from_directory(folder)
            ray.train.report(metrics, checkpoint=chosen)

    def on_step(epoch: int, step: int) -> None:
        every = config.checkpoint_every_steps
        if every and step % every == 0:
            save(epoch, step, {"epoch": epoch, "step": step})
            if rank == 0:
                _log(f"checkpoint at epoch {epoch + 1} step {step}")

    for epoch in range(start_epoch, config.epochs):
        first_step = start_step if epoch == start_epoch else 0
        loss, seen, seconds = train_steps(
            model,
            optimizer,
            tokenizer,
            data,
            config,
            device,
            epoch,
            rank,
            world,
            first_step,
            on_step,
        )
        val_accuracy = accuracy(model, tokenizer, data.validation, config, device)
        metrics = {
            "epoch": float(epoch + 1),
            "train_loss": loss,
            "val_accuracy": val_accuracy,
            "train_examples_per_s": seen * world / max(seconds, 1e-9),
        }
        if rank == 0:
            _log(
                f"epoch {epoch + 1}/{config.epochs}: loss {loss:.4f} val_accuracy "
                f"{val_accuracy:.4f} ({metrics['train_examples_per_s']:.1f} examples/s)"
            )
            if mlflow_client is not None and run_id is not None:
                for key, value in metrics.items():
                    mlflow_client.log_metric(run_id, key, value, step=epoch + 1)
        # The epoch's end is a checkpoint: a restart resumes with the next epoch.
        save(epoch + 1, 0, metrics)


def _mlflow_client() -> Any:
    from registry.credentials import RegistryCredentials

    credentials = RegistryCredentials.from_environment()
    if credentials is None:
        return None
    credentials.activate()
    from mlflow import MlflowClient

    return MlflowClient()


def plain_loop_throughput(snapshot: Path, config: TrainConfig) -> float:
    """The baseline: the same model, data and steps in one process, no Ray. Examples/s."""
    import torch

    torch.set_num_threads(config.torch_threads or max(1, int(config.cpus_per_worker)))
    torch.manual_seed(config.seed)
    data = load_snapshot(snapshot, config.max_train_examples, config.seed)
    tokenizer = load_tokenizer()
    model = build_model(config.backbone, len(data.label_names), config.seed)
    model.train()
    optimizer = make_optimizer(model, config)
    seen, seconds = 0, 0.0
    for epoch in range(config.epochs):
        _, n, s = train_steps(
            model, optimizer, tokenizer, data, config, torch.device("cpu"), epoch, 0, 1, 0
        )
        seen, seconds = seen + n, seconds + s
    return seen / max(seconds, 1e-9)
