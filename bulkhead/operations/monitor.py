"""`bulkhead monitor`: read the drop (as the operator), find the champion's snapshot, report."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from bulkhead.monitoring.report import MonitorReport, build_report, write_report
from bulkhead.platform.core import Platform


def champion_snapshot(platform: Platform) -> Path | None:
    """The snapshot the champion was trained on (its `dataset_digest` tag), else the model's
    newest; None when neither exists here."""
    from bulkhead.operations.models import registry_writer
    from contracts.tags import CHAMPION, DATASET_DIGEST_TAG

    digest = None
    try:
        writer = registry_writer(platform)
        champion = writer.alias_version(CHAMPION)
        digest = writer.tags(champion).get(DATASET_DIGEST_TAG) if champion else None
    except Exception:  # no registry: the newest snapshot still makes a reference
        digest = None
    if digest:
        for manifest in platform.paths.snapshots.glob("*/manifest.json"):
            try:
                if json.loads(manifest.read_text()).get("digest") == digest:
                    return manifest.parent
            except (OSError, ValueError):
                continue
    return platform.model_snapshot()


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: a duration back from now (``90s``, ``5m``, ``1h``) or a moment (ISO 8601,
    ``2026-12-07T10:05:00``; UTC unless it names a zone) -> the Unix time the window starts."""
    from bulkhead.operations.errors import BadInput
    from bulkhead.operations.rollout import parse_duration

    now = time.time() if now is None else now
    try:
        return now - parse_duration(text)  # digits alone are seconds, never a date
    except BadInput:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise BadInput(
            f"{text!r} is neither a duration (90s, 5m, 1h) nor a moment (2026-12-07T10:05:00)"
        ) from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def run_monitor(
    platform: Platform, since: float | None, report_dir: Path | None
) -> tuple[MonitorReport, list[Path]]:
    """``since``: the Unix time the window starts (None: the whole drop)."""
    report = build_report(
        platform.paths.drop_records,
        platform.model_name,
        champion_snapshot(platform),
        since,
    )
    written = write_report(report, report_dir) if report_dir is not None else []
    return report, written
