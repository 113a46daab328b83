"""The benchmark's result: figures per stack, ratios against the machine's limit and every peer.

The goals of docs/performance.md are checked here as ratios measured in the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field

from loadtests.bench.inprocess import AllCoreFigures, InProcessFigures
from loadtests.summary import Figures

# The goals (docs/performance.md), since 2026-12-07:
MAX_OVERHEAD_MS = 1.5  # one client, keep-alive: p50 minus the single-stream in-process p50
MAX_NEW_CONNECTION_OVERHEAD_MS = 2.0  # the same, a new connection per request
MIN_RATIO_VS_LIMIT = 0.95  # 8 clients: RPS over the all-core batch-1 texts/s
MIN_RATIO_VS_BEST_PEER = 1.0  # 8 clients: RPS over the best peer's (and a lower p99)
BULKHEAD = "Bulkhead"


class SystemFigures(BaseModel):
    system: str
    precision: str
    one_user: Figures
    eight_users: Figures
    one_user_new_connection: Figures | None = Field(
        None, description="1 user, a new TCP connection per request (Connection: close)."
    )
    overhead_ms: float | None = Field(
        None, description="p50 at 1 user minus the in-process batch-1 p50 of the same precision."
    )
    new_connection_overhead_ms: float | None = Field(
        None, description="The same with a new connection per request."
    )
    rps_vs_limit: float | None = Field(
        None, description="RPS at 8 users over the all-core batch-1 limit of the same precision."
    )
    bulkhead_vs_this: float | None = Field(
        None, description="Bulkhead's fp32 RPS at 8 users over this stack's (peers only)."
    )


class Unavailable(BaseModel):
    """A peer that could not be installed or started here, and exactly why."""

    system: str
    reason: str


class Target(BaseModel):
    name: str
    wanted: str
    measured: str
    met: bool


class BenchReport(BaseModel):
    machine: str
    model: str
    started_at: str
    duration_s: float
    in_process: list[InProcessFigures]
    all_cores: list[AllCoreFigures] = Field(default_factory=list)
    systems: list[SystemFigures]
    floor: list[SystemFigures] = Field(
        default_factory=list,
        description="A null server (no model) directly and behind HAProxy: what the client, "
        "the kernel and the HTTP plumbing cost. Not a peer: no goal compares against it.",
    )
    unavailable: list[Unavailable] = Field(default_factory=list)
    hops: dict[str, float] = Field(
        default_factory=dict, description="Median ms per hop at one client (bench --hops)."
    )
    targets: list[Target] = Field(default_factory=list)

    def limit(self, precision: str, batch_size: int = 1) -> AllCoreFigures | None:
        return next(
            (
                f
                for f in self.all_cores
                if f.precision == precision and f.batch_size == batch_size and not f.grouped
            ),
            None,
        )

    def best_batched(self, precision: str) -> AllCoreFigures | None:
        batched = [f for f in self.all_cores if f.precision == precision and f.batch_size > 1]
        return max(batched, key=lambda f: f.texts_per_s, default=None)

    def peers(self) -> list[SystemFigures]:
        """Peers that answered every request: a stack answering errors is not a yardstick
        (its failures are reported by the failed-requests goal)."""
        return [
            s
            for s in self.systems
            if not s.system.startswith(BULKHEAD)
            and s.one_user.failures + s.eight_users.failures == 0
        ]

    def single_stream(self, precision: str) -> InProcessFigures | None:
        """The fastest one-stream figure of this precision (over the thread settings tried)."""
        singles = [f for f in self.in_process if f.precision == precision and f.batch_size == 1]
        return min(singles, key=lambda f: f.p50_ms, default=None)

    def bulkhead(self, precision: str) -> SystemFigures | None:
        return next(
            (s for s in self.systems if s.system.startswith(BULKHEAD) and s.precision == precision),
            None,
        )


def _ratio(a: float, b: float | None) -> float | None:
    return round(a / b, 2) if b else None


Report = TypeVar("Report", bound="BenchReport")


def add_ratios(report: Report) -> Report:
    ours = report.bulkhead("fp32")
    for system in report.systems:
        stream = report.single_stream(system.precision)
        if stream and system.one_user.p50_ms is not None:
            system.overhead_ms = round(system.one_user.p50_ms - stream.p50_ms, 2)
        fresh = system.one_user_new_connection
        if stream and fresh is not None and fresh.p50_ms is not None:
            system.new_connection_overhead_ms = round(fresh.p50_ms - stream.p50_ms, 2)
        limit = report.limit(system.precision)
        system.rps_vs_limit = _ratio(system.eight_users.rps, limit.texts_per_s if limit else None)
        if ours and not system.system.startswith(BULKHEAD):
            system.bulkhead_vs_this = _ratio(ours.eight_users.rps, system.eight_users.rps)
    report.targets = _targets(report)
    return report


def _lower(ours: float | None, theirs: float | None) -> bool:
    return ours is not None and theirs is not None and ours < theirs


def _targets(report: BenchReport) -> list[Target]:
    targets: list[Target] = []

    def add(name: str, wanted: str, measured: str, met: bool) -> None:
        targets.append(Target(name=name, wanted=wanted, measured=measured, met=met))

    for precision in ("fp32", "int8"):
        ours = report.bulkhead(precision)
        if ours is None:
            continue
        overheads = [("1 client", ours.overhead_ms, MAX_OVERHEAD_MS)]
        if ours.one_user_new_connection is not None:
            overheads.append(
                (
                    "1 client, a new connection per request",
                    ours.new_connection_overhead_ms,
                    MAX_NEW_CONNECTION_OVERHEAD_MS,
                )
            )
        for label, over, limit in overheads:
            add(
                f"{label}: p50 over in-process ({precision})",
                f"≤ {limit} ms",
                "—" if over is None else f"{over:.2f} ms",
                over is not None and over <= limit,
            )
        r = ours.rps_vs_limit
        add(
            f"8 clients: RPS over the all-core limit ({precision})",
            f"≥ {MIN_RATIO_VS_LIMIT}x",
            "—" if r is None else f"{r:.2f}x",
            r is not None and r >= MIN_RATIO_VS_LIMIT,
        )
    ours = report.bulkhead("fp32")
    peers = report.peers()
    if ours and peers:
        best = max(peers, key=lambda p: p.eight_users.rps)
        r = _ratio(ours.eight_users.rps, best.eight_users.rps)
        add(
            f"8 clients: RPS over the best peer ({best.system})",
            f"≥ {MIN_RATIO_VS_BEST_PEER}x",
            "—" if r is None else f"{r:.2f}x",
            r is not None and r >= MIN_RATIO_VS_BEST_PEER,
        )
        for leg, label in (("one_user", "1 client"), ("eight_users", "8 clients")):
            mine: Figures = getattr(ours, leg)
            beaten = [
                p.system
                for p in peers
                if not (
                    _lower(mine.p50_ms, getattr(p, leg).p50_ms)
                    and _lower(mine.p99_ms, getattr(p, leg).p99_ms)
                )
            ]
            add(
                f"{label}: lower p50 and p99 than every peer (fp32)",
                "every peer",
                "all" if not beaten else "not below " + ", ".join(beaten),
                not beaten,
            )
    failures = {
        f"{s.system} {s.precision}": s.one_user.failures + s.eight_users.failures
        for s in report.systems
    }
    failed = {name: n for name, n in failures.items() if n}
    add(
        "failed requests, every run",
        "0",
        "0" if not failed else ", ".join(f"{k}: {v}" for k, v in failed.items()),
        not failed,
    )
    return targets


def plot(report: BenchReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{s.system}\n{s.precision}" for s in report.systems]
    fig, (ax_rps, ax_lat) = plt.subplots(1, 2, figsize=(16, 6))
    rps = [s.eight_users.rps for s in report.systems]
    bars = ax_rps.bar(names, rps, color="tab:blue")
    ax_rps.bar_label(bars, fmt="%.0f")
    colours = {"fp32": "tab:red", "int8": "tab:orange"}
    for precision, colour in colours.items():
        for figures, style, what in (
            (report.limit(precision), "--", "all-core limit b1"),
            (report.best_batched(precision), ":", "all-core batched"),
        ):
            if figures is None:
                continue
            ax_rps.axhline(figures.texts_per_s, ls=style, color=colour)
            grouped = ", by length" if figures.grouped else ""
            label = f"{what} {precision}" + (
                f" (b{figures.batch_size}{grouped})" if ":" in style else ""
            )
            ax_rps.text(-0.4, figures.texts_per_s, label, va="bottom", fontsize=7)
    ax_rps.set_title("8 clients: requests/s (one text each)")
    x = range(len(report.systems))
    p50 = [s.one_user.p50_ms or 0 for s in report.systems]
    p99 = [s.one_user.p99_ms or 0 for s in report.systems]
    p99_8 = [s.eight_users.p99_ms or 0 for s in report.systems]
    width = 0.27
    ax_lat.bar([i - width for i in x], p50, width, label="1 client p50")
    ax_lat.bar(list(x), p99, width, label="1 client p99")
    ax_lat.bar([i + width for i in x], p99_8, width, label="8 clients p99")
    ax_lat.set_xticks(list(x), names)
    ax_lat.set_ylabel("ms")
    ax_lat.set_title("latency")
    ax_lat.legend()
    for ax in (ax_rps, ax_lat):
        ax.tick_params(axis="x", labelsize=7, rotation=30)
    fig.suptitle(f"{report.model} on {report.machine}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
