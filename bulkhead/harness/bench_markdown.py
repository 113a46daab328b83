"""``bench.md``: a bench run as Markdown tables, ready for docs (figures copied by no hand)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bulkhead.harness.bench import PlatformBenchReport
    from loadtests.bench.report import SystemFigures


def _f(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def _fresh(s: SystemFigures) -> str:
    fresh = s.one_user_new_connection
    if fresh is None:
        return "—"
    over = f" ({s.new_connection_overhead_ms:+.2f} ms)" if s.new_connection_overhead_ms else ""
    return f"{_f(fresh.p50_ms)}{over}"


def bench_markdown(report: PlatformBenchReport) -> str:
    lines = [
        f"Run {report.started_at} on {report.machine}, {report.model}, "
        f"{report.duration_s / 60:.0f} min.",
        "",
        "| stack | precision | 1 client p50 (ms) | 1 client p99 | over in-process | "
        "8 clients RPS | 8 clients p99 | failed | ÷ all-core limit | Bulkhead fp32 ÷ this | "
        "1 client p50, new connection (over in-process) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for single in report.in_process:
        threads = "default threads" if single.threads == 0 else f"{single.threads} threads"
        lines.append(
            f"| in-process, 1 stream, {threads} | {single.precision} | {_f(single.p50_ms)} | "
            f"{_f(single.p99_ms)} | | {_f(single.texts_per_s)} texts/s | | | | | |"
        )
    for limit in report.all_cores:
        lines.append(
            f"| in-process, {limit.processes} processes, batch {limit.batch_size}"
            f"{', grouped by length' if limit.grouped else ''} | "
            f"{limit.precision} | | | | {_f(limit.texts_per_s)} texts/s | {_f(limit.p99_ms)} "
            "| | | | |"
        )
    for s in report.systems:
        name = f"**{s.system}**" if s.system.startswith("Bulkhead") else s.system
        lines.append(
            f"| {name} | {s.precision} | {_f(s.one_user.p50_ms)} | {_f(s.one_user.p99_ms)} | "
            f"{_f(s.overhead_ms, ' ms', 2)} | {_f(s.eight_users.rps)} | "
            f"{_f(s.eight_users.p99_ms)} | {s.one_user.failures + s.eight_users.failures} | "
            f"{_f(s.rps_vs_limit, 'x', 2)} | {_f(s.bulkhead_vs_this, 'x', 2)} | "
            f"{_fresh(s)} |"
        )
    for floor in report.floor:
        lines.append(
            f"| {floor.system} | — | {_f(floor.one_user.p50_ms)} | {_f(floor.one_user.p99_ms)} "
            f"| | {_f(floor.eight_users.rps)} | {_f(floor.eight_users.p99_ms)} | "
            f"{floor.one_user.failures + floor.eight_users.failures} | | | {_fresh(floor)} |"
        )
    for missing in report.unavailable:
        lines.append(f"| {missing.system} | not run: {missing.reason} | | | | | | | | | |")
    if report.hops:
        lines += ["", "| hop (1 client, median) | ms |", "|---|---|"]
        lines += [f"| {hop} | {ms:.2f} |" for hop, ms in report.hops.items()]
    if report.idle or report.registry_polls or report.registry_scaling:
        lines += ["", "| cost | measured |", "|---|---|"]
        if report.idle:
            for service in report.idle.services:
                lines.append(
                    f"| idle: {service.service} ({service.processes} processes) | "
                    f"{service.cpu_core_pct} % of a core, {service.pss_mb:.0f} MB |"
                )
            lines.append(
                f"| idle: whole platform | {report.idle.cpu_machine_pct} % of the machine, "
                f"{report.idle.pss_mb / 1000:.2f} GB |"
            )
        for poll in report.registry_polls:
            lines.append(
                f"| one alias lookup, {poll.way} | {poll.cpu_ms_per_poll} ms registry CPU, "
                f"{poll.wall_ms_per_poll} ms round trip |"
            )
        if report.registry_scaling:
            for load in report.registry_scaling.loads:
                lines.append(
                    f"| registry while {load.replicas} replica(s) poll | "
                    f"{load.registry_core_pct} % of a core |"
                )
    lines += ["", "| goal | wanted | measured | |", "|---|---|---|---|"]
    for t in report.targets:
        lines.append(f"| {t.name} | {t.wanted} | {t.measured} | {'met' if t.met else 'not met'} |")
    return "\n".join(lines) + "\n"
