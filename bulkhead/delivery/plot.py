"""One PNG per rollout: weight, error rate, p99 and agreement per version over time."""

from __future__ import annotations

from pathlib import Path

from bulkhead.delivery.controller import RolloutReport


def plot_rollout(report: RolloutReport, path: Path) -> Path | None:
    if not report.ticks or report.state is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    state = report.state
    t = [tick.t for tick in report.ticks]
    fig, axes = plt.subplots(4, 1, figsize=(10, 10), sharex=True)
    weight, errors, p99, agreement = axes
    weight.step(t, [tick.weight for tick in report.ticks], where="post", color="black")
    weight.set_ylabel("canary weight %")
    weight.set_ylim(-5, 105)
    for label, figures, color in (
        (f"champion v{state.champion}", [k.recent_champion for k in report.ticks], "tab:blue"),
        (f"candidate v{state.candidate}", [k.recent_candidate for k in report.ticks], "tab:orange"),
    ):
        errors.plot(t, [100 * f.error_rate for f in figures], label=label, color=color)
        p99.plot(t, [f.p99_ms if f.p99_ms else float("nan") for f in figures], label=label,
                 color=color)  # fmt: skip
    shares = [tick.recent_candidate.agreement for tick in report.ticks]
    agreement.plot(t, [100 * a if a is not None else float("nan") for a in shares],
                   color="tab:orange", label="candidate vs champion")  # fmt: skip
    agreement.axhline(100 * state.policy.min_agreement, color="red", linestyle=":", label="floor")
    errors.set_ylabel("error rate %")
    p99.set_ylabel("p99 model ms")
    agreement.set_ylabel("agreement %")
    agreement.set_xlabel("seconds since the controller started")
    for ax in axes:
        ax.grid(alpha=0.3)
    for ax in (errors, p99, agreement):
        ax.legend(loc="upper left", fontsize=8)
    for event in report.events:
        x = event.at - report.started_at
        for ax in axes:
            ax.axvline(x, color="grey", linestyle="--", linewidth=0.8)
        weight.annotate(event.decision, (x, 95), fontsize=8, rotation=90, va="top")
    fig.suptitle(
        f"rollout {state.id}: v{state.candidate} vs v{state.champion} — {state.phase}"
        f"{': ' + state.reason[:80] if state.reason else ''}",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
