"""The in-process limit: tokenise + onnxruntime in a loop, no server, no network."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

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
    started = time.perf_counter()
    latencies = _closed_loop(predictor, texts, batch_size, seconds, rng)
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


def _closed_loop(
    predictor: Predictor, texts: list[str], batch_size: int, seconds: float, rng: random.Random
) -> list[float]:
    """Milliseconds of each call, calls back to back for ``seconds``."""
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        batch = rng.choices(texts, k=batch_size)
        t0 = time.perf_counter()
        predictor.predict(batch)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


class AllCoreFigures(BaseModel):
    """The machine's limit: one single-thread process per core, closed loop, no server."""

    precision: str
    batch_size: int
    processes: int
    calls: int
    p50_ms: float
    p99_ms: float
    texts_per_s: float


def _worker(
    bundle: str,
    texts: list[str],
    precision: str,
    batch_size: int,
    seconds: float,
    seed: int,
    barrier: Any,
    results: Any,
) -> None:
    predictor = Predictor(
        Path(bundle), ModelInfo("bench", "0", None, precision), threads=1, precision=precision
    )
    rng = random.Random(seed)
    for _ in range(20):
        predictor.predict(rng.choices(texts, k=batch_size))
    barrier.wait()
    results.put(_closed_loop(predictor, texts, batch_size, seconds, rng))


def measure_all_cores(
    bundle: Path,
    texts: list[str],
    *,
    precision: str = "fp32",
    batch_size: int = 1,
    processes: int | None = None,
    seconds: float = 8.0,
) -> AllCoreFigures:
    """Every core busy with its own process and a one-thread session, started together."""
    import multiprocessing

    count = processes or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(count), context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(str(bundle), texts, precision, batch_size, seconds, seed, barrier, results),
        )
        for seed in range(count)
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    try:
        for _ in workers:
            latencies.extend(results.get(timeout=seconds + 120))
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    arr = np.array(latencies)
    return AllCoreFigures(
        precision=precision,
        batch_size=batch_size,
        processes=count,
        calls=len(latencies),
        p50_ms=round(float(np.percentile(arr, 50)), 2),
        p99_ms=round(float(np.percentile(arr, 99)), 2),
        texts_per_s=round(len(latencies) * batch_size / seconds, 1),
    )
