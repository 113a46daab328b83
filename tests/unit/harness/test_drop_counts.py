"""The drop-full scenario compares the feedback it saw refused with the keeper's own count.
The keeper writes its stats every 2 s, so the count must come from a file written after the
last refusal (CI failed once on 393 counted of 399 refused, read from a stale file)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from bulkhead.harness.chaos.drop import _refused_full
from drop.keeper import KeeperStats


def _write(path: Path, refused: int) -> None:
    staging = path.with_suffix(".tmp")
    staging.write_text(
        KeeperStats(feedback_refused_full=refused, time=time.time()).model_dump_json()
    )
    staging.replace(path)


def test_the_refused_count_is_read_from_a_stats_file_written_after_the_refusals(
    tmp_path: Path,
) -> None:
    stats_file = tmp_path / "drop-stats.json"
    _write(stats_file, refused=393)  # written before the last refusals
    ctx = cast(
        Any, SimpleNamespace(platform=SimpleNamespace(paths=SimpleNamespace(drop_stats=stats_file)))
    )
    phase_end = time.time()
    later = threading.Timer(0.5, _write, (stats_file, 399))
    later.start()
    try:
        assert _refused_full(ctx, written_after=phase_end) == 399
    finally:
        later.cancel()
