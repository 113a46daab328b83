"""`bulkhead monitor`: the payload drop against the champion's training snapshot.

What is compared (each statistic in bulkhead/monitoring/drift.py):
- predicted-label mix in the window against the snapshot's label mix (PSI);
- text length in characters against the snapshot's test texts (KS);
- confidence (the answered label's score) in the window against the same model's logged
  answers before the window (KS): the snapshot holds no model outputs, so the reference is
  production itself, the last ``REFERENCE_RECORDS`` records before ``since``;
- live accuracy per version, where feedback came back for logged predictions.
The unknown-token rate the design lists is not computed yet (it needs the tokenizer's view of
each text; see docs/feedback.md).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bulkhead.monitoring.drift import Statistic, Verdict, mix_psi, numeric_ks
from contracts.drop import PredictionRecord
from drop.reader import join_feedback, read_drop

REFERENCE_RECORDS = 5_000
_ORDER: dict[Verdict, int] = {"insufficient data": 0, "stable": 1, "moderate": 2, "drift": 3}


class VersionAccuracy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    labelled: int = Field(description="Logged predictions a client sent the true label for.")
    correct: int
    accuracy: float | None


class MonitorReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    window_start: float | None = Field(description="Unix time; None = the whole drop.")
    generated_at: float
    predictions: int = Field(description="Logged texts in the window.")
    feedback: int = Field(description="Feedback records in the window.")
    snapshot: str | None = Field(description="The reference snapshot (the champion's).")
    statistics: list[Statistic]
    accuracy: list[VersionAccuracy]
    verdict: Verdict = Field(description="The worst verdict of the statistics.")
    drop_files: int
    unmatched_feedback: int = 0


def snapshot_reference(snapshot: Path | None) -> tuple[Counter[str], list[float]]:
    """The snapshot's label mix (every split) and its test texts' lengths."""
    if snapshot is None:
        return Counter(), []
    import pyarrow.parquet as pq

    labels: Counter[str] = Counter()
    for split in ("train", "validation", "test"):
        if (snapshot / split).exists():
            column = pq.read_table(snapshot / split, columns=["label"]).column("label")
            labels.update(str(v) for v in column.to_pylist())
    texts = pq.read_table(snapshot / "test", columns=["text"]).column("text").to_pylist()
    return labels, [float(len(t)) for t in texts if t]


def build_report(
    drop_root: Path, model: str, snapshot: Path | None, since: float | None
) -> MonitorReport:
    contents = read_drop(drop_root, model)
    in_window = [p for p in contents.predictions if since is None or p.time >= since]
    # The drop holds one file per replica (and per rotation), read in file-name order, so the
    # records are not in time order: sort before taking the last ``REFERENCE_RECORDS``, or the
    # reference is whichever file sorts last rather than the traffic just before the window.
    before = sorted(
        (p for p in contents.predictions if since is not None and p.time < since),
        key=lambda p: p.time,
    )
    reference = before[-REFERENCE_RECORDS:]
    feedback = [f for f in contents.feedback if since is None or f.time >= since]
    ref_labels, ref_lengths = snapshot_reference(snapshot)
    statistics = [
        mix_psi(
            "predicted label mix (against the snapshot's labels)",
            ref_labels,
            Counter(p.label for p in in_window),
        ),
        numeric_ks(
            "text length, characters (against the snapshot's test texts)",
            ref_lengths,
            [float(p.chars) for p in in_window],
        ),
        numeric_ks(
            "confidence (against the logged answers before the window)",
            [p.score for p in reference],
            [p.score for p in in_window],
        ),
        numeric_ks(
            "unknown-token rate (against the logged answers before the window)",
            unknown_token_rates(reference),
            unknown_token_rates(in_window),
        ),
    ]
    joined = join_feedback(contents)
    window_ids = {(p.request_id, p.index) for p in in_window}
    by_version: dict[str, list[bool]] = {}
    for row in joined.rows:
        if since is None or (row.request_id, row.index) in window_ids:
            by_version.setdefault(row.version, []).append(row.label == row.predicted)
    accuracy = [
        VersionAccuracy(
            version=version,
            labelled=len(hits),
            correct=sum(hits),
            accuracy=round(sum(hits) / len(hits), 4) if hits else None,
        )
        for version, hits in sorted(by_version.items(), key=lambda kv: int(kv[0]))
    ]
    verdict = max((s.verdict for s in statistics), key=lambda v: _ORDER[v])
    return MonitorReport(
        model=model,
        window_start=since,
        generated_at=time.time(),
        predictions=len(in_window),
        feedback=len(feedback),
        snapshot=str(snapshot) if snapshot is not None else None,
        statistics=statistics,
        accuracy=accuracy,
        verdict=verdict,
        drop_files=len(contents.files),
        unmatched_feedback=joined.unmatched,
    )


def unknown_token_rates(records: Sequence[PredictionRecord]) -> list[float]:
    """Each text's share of tokens the tokenizer could not spell (records logged before the
    replicas counted tokens have none and are left out)."""
    return [
        p.unknown_tokens / p.tokens for p in records if p.tokens and p.unknown_tokens is not None
    ]


def prometheus_text(report: MonitorReport) -> str:
    """The report as Prometheus text (node-exporter's textfile format): the same figures the
    alert rules in deploy/monitoring/ read."""
    model = report.model
    lines = [
        "# HELP bulkhead_drift_statistic PSI or KS statistic of one monitored feature.",
        "# TYPE bulkhead_drift_statistic gauge",
    ]
    features = ("label_mix", "text_length", "confidence", "unknown_tokens")
    for feature, stat in zip(features, report.statistics, strict=True):
        if stat.value is not None:
            lines.append(
                f'bulkhead_drift_statistic{{model="{model}",feature="{feature}",'
                f'method="{stat.method}"}} {stat.value}'
            )
    lines += [
        "# HELP bulkhead_drift_detected 1 when a feature's verdict is drift.",
        "# TYPE bulkhead_drift_detected gauge",
    ]
    for feature, stat in zip(features, report.statistics, strict=True):
        detected = 1 if stat.verdict == "drift" else 0
        lines.append(f'bulkhead_drift_detected{{model="{model}",feature="{feature}"}} {detected}')
    lines += [
        "# HELP bulkhead_live_accuracy Accuracy on logged predictions that got feedback.",
        "# TYPE bulkhead_live_accuracy gauge",
    ]
    for row in report.accuracy:
        if row.accuracy is not None:
            lines.append(
                f'bulkhead_live_accuracy{{model="{model}",version="{row.version}"}} {row.accuracy}'
            )
    return "\n".join(lines) + "\n"


def write_report(report: MonitorReport, folder: Path) -> list[Path]:
    """report.json, drift.prom and drift.png in ``folder``."""
    from bulkhead.monitoring.plot import plot_report

    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json", folder / "drift.prom", folder / "drift.png"]
    written[0].write_text(report.model_dump_json(indent=2))
    written[1].write_text(prometheus_text(report))
    plot_report(report, written[2])
    return written
