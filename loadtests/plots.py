"""PNG plots of a load test: latency percentiles and throughput over time, replicas overlaid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from loadtests.summary import LoadTestSummary, Sample


def plot_run(
    summary: LoadTestSummary, samples: list[Sample], path: Path, bucket_s: float = 1.0
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = max((s.t for s in samples), default=0.0)
    edges = np.arange(0.0, end + bucket_s, bucket_s)
    times = np.array([s.t for s in samples])
    lat = np.array([s.latency_ms for s in samples])
    ok = np.array([s.ok for s in samples])
    idx = np.clip(np.digitize(times, edges) - 1, 0, max(len(edges) - 1, 0))
    mids, p50, p95, p99, rps, fails = [], [], [], [], [], []
    for b in range(len(edges)):
        sel = idx == b
        if not sel.any():
            continue
        mids.append(edges[b] + bucket_s / 2)
        good = lat[sel & ok]
        p50.append(np.percentile(good, 50) if good.size else np.nan)
        p95.append(np.percentile(good, 95) if good.size else np.nan)
        p99.append(np.percentile(good, 99) if good.size else np.nan)
        rps.append(sel.sum() / bucket_s)
        fails.append((sel & ~ok).sum() / bucket_s)

    fig, (ax_lat, ax_rps) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    ax_lat.plot(mids, p50, label="p50")
    ax_lat.plot(mids, p95, label="p95")
    ax_lat.plot(mids, p99, label="p99")
    ax_lat.set_ylabel("latency (ms)")
    ax_lat.set_yscale("log")
    ax_lat.legend(loc="upper left")
    ax_lat.set_title(f"profile {summary.profile} → {summary.target_url}")
    ax_rps.plot(mids, rps, label="requests/s", color="tab:green")
    if any(fails):
        ax_rps.plot(mids, fails, label="failures/s", color="tab:red")
    ax_rps.set_ylabel("requests / s")
    ax_rps.set_xlabel("seconds since start")
    ax_rps.legend(loc="upper left")
    for ax in (ax_lat, ax_rps):
        for stage in summary.stages:
            ax.axvline(stage.start_s, color="grey", lw=0.6, ls=":")
        if summary.warmup_s:
            ax.axvspan(0, summary.warmup_s, color="grey", alpha=0.1)
    if summary.replicas:
        ax_rep = ax_rps.twinx()
        ax_rep.step(
            [p.t for p in summary.replicas],
            [p.running for p in summary.replicas],
            where="post",
            color="tab:purple",
            label="running replicas",
        )
        ax_rep.set_ylabel("replicas")
        ax_rep.set_ylim(0, max(p.running for p in summary.replicas) + 1)
        ax_rep.legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
