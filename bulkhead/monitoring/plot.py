"""One PNG per monitor report: each statistic's two sides, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bulkhead.monitoring.report import MonitorReport


def plot_report(report: MonitorReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = len(report.statistics) + 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6))
    for ax, stat in zip(axes, report.statistics, strict=False):
        keys = sorted(set(stat.reference) | set(stat.current))
        x = range(len(keys))
        ax.bar(
            [i - 0.2 for i in x], [stat.reference.get(k, 0) for k in keys], 0.4, label="reference"
        )
        ax.bar([i + 0.2 for i in x], [stat.current.get(k, 0) for k in keys], 0.4, label="window")
        ax.set_xticks(list(x), keys, rotation=30, fontsize=8)
        value = "n/a" if stat.value is None else f"{stat.method.upper()} {stat.value:.3f}"
        ax.set_title(f"{stat.name.split(' (')[0]}\n{value}: {stat.verdict}", fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[-1]
    versions = [a.version for a in report.accuracy]
    ax.bar(versions, [a.accuracy or 0 for a in report.accuracy], color="tab:green")
    ax.set_ylim(0, 1)
    ax.set_title("live accuracy per version (feedback)", fontsize=9)
    if not report.accuracy:
        ax.text(0.5, 0.5, "no feedback in the window", ha="center", transform=ax.transAxes)
        ax.set_xticks([])
    for i, row in enumerate(report.accuracy):
        ax.text(i, (row.accuracy or 0) + 0.02, f"n={row.labelled}", ha="center", fontsize=8)
    fig.suptitle(f"{report.model}: {report.predictions} logged texts, verdict {report.verdict}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
