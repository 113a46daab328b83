"""The in-process limit: tokenise + onnxruntime in a loop, no server, no network."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from serving.predictor import ModelInfo, Predictor


class InProcessFigures(BaseModel):
    precision: str
    batch_size: int
    threads: int
    calls: int
    p50_ms: float
    p99_ms: float
    texts_per_s: float


def measure(
    bundle: Path,
    texts: list[str],
    *,
    precision: str = "fp32",
    batch_size: int = 1,
    threads: int = 0,
    seconds: float = 8.0,
    warmup_calls: int = 20,
    seed: int = 0,
) -> InProcessFigures:
    """Call the model back to back for ``seconds``; ``threads=0`` is onnxruntime's default."""
    predictor = Predictor(
        bundle, ModelInfo("bench", "0", None, precision), threads=threads, precision=precision
    )
    rng = random.Random(seed)
    for _ in range(warmup_calls):
        predictor.predict(rng.choices(texts, k=batch_size))
    latencies = []
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        batch = rng.choices(texts, k=batch_size)
        t0 = time.perf_counter()
        predictor.predict(batch)
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    arr = np.array(latencies)
    return InProcessFigures(
        precision=predictor.info.precision,
        batch_size=batch_size,
        threads=threads,
        calls=len(latencies),
        p50_ms=round(float(np.percentile(arr, 50)), 2),
        p99_ms=round(float(np.percentile(arr, 99)), 2),
        texts_per_s=round(len(latencies) * batch_size / elapsed, 1),
    )
