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
    predictor: Predictor,
    texts: list[str],
    batch_size: int,
    seconds: float,
    rng: random.Random,
    by_length: list[str] | None = None,
) -> list[float]:
    """Milliseconds of each call, calls back to back for ``seconds``. ``by_length``: the
    texts sorted by token count; each batch is then that many neighbours of it (texts within a
    few tokens of each other, so the batch pads little) instead of a random draw."""
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        batch = _batch(texts, batch_size, rng, by_length)
        t0 = time.perf_counter()
        predictor.predict(batch)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def _batch(
    texts: list[str], size: int, rng: random.Random, by_length: list[str] | None
) -> list[str]:
    if by_length is None or size == 1 or len(by_length) <= size:
        return rng.choices(texts, k=size)
    start = rng.randrange(0, len(by_length) - size)
    return by_length[start : start + size]


def sorted_by_tokens(bundle: Path, texts: list[str]) -> list[str]:
    """``texts`` in order of their token count under the bundle's own tokenizer."""
    from tokenizers import Tokenizer

    from contracts.bundle import TOKENIZER_DIR

    tokenizer = Tokenizer.from_file(str(bundle / TOKENIZER_DIR / "tokenizer.json"))
    tokenizer.no_padding()
    counts = [len(encoding.ids) for encoding in tokenizer.encode_batch(texts)]
    return [text for _, text in sorted(zip(counts, texts, strict=True), key=lambda p: p[0])]


class AllCoreFigures(BaseModel):
    """The machine's limit: one single-thread process per core, closed loop, no server."""

    precision: str
    batch_size: int
    grouped: bool = False  # each batch of texts within a few tokens of each other
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
    grouped: bool = False,
) -> None:
    predictor = Predictor(
        Path(bundle), ModelInfo("bench", "0", None, precision), threads=1, precision=precision
    )
    by_length = sorted_by_tokens(Path(bundle), texts) if grouped else None
    rng = random.Random(seed)
    for _ in range(20):
        predictor.predict(_batch(texts, batch_size, rng, by_length))
    barrier.wait()
    results.put(_closed_loop(predictor, texts, batch_size, seconds, rng, by_length))


def measure_all_cores(
    bundle: Path,
    texts: list[str],
    *,
    precision: str = "fp32",
    batch_size: int = 1,
    processes: int | None = None,
    seconds: float = 8.0,
    grouped: bool = False,
) -> AllCoreFigures:
    """Every core busy with its own process and a one-thread session, started together.
    ``grouped``: each batch holds texts of similar token length (a batch pads to its
    longest text, which is what ate batching's gain)."""
    import multiprocessing

    count = processes or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(count), context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(
                str(bundle),
                texts,
                precision,
                batch_size,
                seconds,
                seed,
                barrier,
                results,
                grouped,
            ),
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
        grouped=grouped,
        processes=count,
        calls=len(latencies),
        p50_ms=round(float(np.percentile(arr, 50)), 2),
        p99_ms=round(float(np.percentile(arr, 99)), 2),
        texts_per_s=round(len(latencies) * batch_size / seconds, 1),
    )
