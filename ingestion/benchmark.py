"""Ray Data's shuffle strategies on the ingest pipeline: ``python -m ingestion.benchmark``.

Builds the same snapshots (a 300-row CSV and the bundled data set) on a local Ray of one CPU,
as the ingest zone has, once with Ray Data's default shuffle (``shuffle_v2``: aggregator
actors per shuffle) and once with the one the pipeline uses (``SHUFFLE_STRATEGY``), in
alternating order, and prints each time, the ratio and both digests (which must be equal:
the strategy changes how rows move, never the snapshot). The local Ray is started and
stopped here; nothing else on the machine is touched. ``make bench-ingest``.
"""

from __future__ import annotations

import csv
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ingestion import pipeline
from ingestion.schema import IngestConfig

DEFAULT_STRATEGY = "shuffle_v2"
ROUNDS = 2


def _small_csv(folder: Path, rows: int = 300) -> Path:
    path = folder / "small.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            good = i % 2 == 1
            verdict = "great" if good else "awful"
            writer.writerow([f"review {i} was {verdict} indeed", "fresh" if good else "rotten"])
    return path


def _build(config: IngestConfig, strategy: str) -> tuple[float, str]:
    import ray.data

    ray.data.DataContext.get_current().shuffle_strategy = strategy
    out = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        started = time.perf_counter()
        _, _, manifest = pipeline.build_snapshot(config, out, None)
        return time.perf_counter() - started, manifest.digest
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    import ray
    import ray.data

    scratch = Path(tempfile.mkdtemp(prefix="bench-ingest-src-"))
    inputs = {
        "300-row CSV": IngestConfig(source=_small_csv(scratch)),
        "bundled set": IngestConfig(),
    }
    strategies = (DEFAULT_STRATEGY, pipeline.SHUFFLE_STRATEGY)
    pipeline._step = lambda message: None  # the pipeline's progress lines: not timed here
    ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # one plan line per execution
    times: dict[tuple[str, str], list[float]] = {}
    digests: dict[tuple[str, str], set[str]] = {}
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        _build(inputs["300-row CSV"], pipeline.SHUFFLE_STRATEGY)  # warm-up: Ray Data's start
        for round_ in range(ROUNDS):
            order = strategies if round_ % 2 == 0 else strategies[::-1]
            for strategy in order:
                for name, config in inputs.items():
                    seconds, digest = _build(config, strategy)
                    times.setdefault((name, strategy), []).append(seconds)
                    digests.setdefault((name, strategy), set()).add(digest)
                    print(
                        f"round {round_ + 1}: {name:12} {strategy:24} {seconds:5.1f} s", flush=True
                    )
    finally:
        pipeline.release_ray_data_actors()
        ray.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    for name in inputs:
        before = statistics.median(times[(name, DEFAULT_STRATEGY)])
        after = statistics.median(times[(name, pipeline.SHUFFLE_STRATEGY)])
        same = digests[(name, DEFAULT_STRATEGY)] == digests[(name, pipeline.SHUFFLE_STRATEGY)]
        print(
            f"{name}: {DEFAULT_STRATEGY} {before:.1f} s -> {pipeline.SHUFFLE_STRATEGY} "
            f"{after:.1f} s ({before / after:.1f}x faster); same digest: {same}"
        )


if __name__ == "__main__":
    main()
