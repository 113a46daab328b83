"""`ingest --from-feedback`: production texts with the labels clients sent back, merged with
the model's current snapshot into one source that the ordinary pipeline then cleans,
de-duplicates and splits (so the same rules hold: a text given two labels is dropped, a test
text stays a test text because the split is seeded by the text).

The drop is read here, in the ingest zone, which may read it and nothing else may write it
(contracts/drop.py). The new snapshot's manifest records its lineage: the base snapshot's
digest, every drop file as read (lines, bytes, sha256) and which requests were used.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from contracts.snapshot import FeedbackLineage, SnapshotError, verify
from drop.reader import labelled
from ingestion.schema import FeedbackInput, IngestConfig, IngestError

FEEDBACK_SUFFIX = "-feedback"


def _base_rows(snapshot: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    frames = [
        pq.read_table(snapshot / split, columns=["text", "label"]).to_pandas()
        for split in ("train", "validation", "test")
        if (snapshot / split).exists()
    ]
    return pd.concat(frames, ignore_index=True)


def merge_feedback(
    spec: FeedbackInput, snapshots_dir: Path, step: Callable[[str], None]
) -> tuple[IngestConfig, FeedbackLineage, Path]:
    """The merged source as a parquet file in a staging folder (removed by the caller), the
    config to ingest it with (the base snapshot's labels, seed and fractions), and the
    lineage for its manifest."""
    try:
        base = verify(spec.base_snapshot)
    except (OSError, ValueError, SnapshotError) as err:
        raise IngestError(f"base snapshot {spec.base_snapshot}: {err}") from err
    # Streamed: the drop may hold a GiB of samples; only the labelled ones are kept.
    joined, contents = labelled(spec.drop_dir, spec.model)
    step(
        f"drop: {len(contents.files)} files, {len(contents.feedback)} feedback naming "
        f"{len(contents.predictions)} logged texts; {len(joined.rows)} usable labelled texts "
        f"(unmatched {joined.unmatched}, conflicting {joined.conflicting}, "
        f"hash only {joined.without_text})"
    )
    unknown = sorted({row.label for row in joined.rows} - set(base.labels))
    if unknown:  # the serve zone checks labels, but an older model may have had others
        raise IngestError(f"feedback labels {unknown} are not the snapshot's {base.labels}")
    if len(joined.rows) < spec.min_feedback_rows:
        raise IngestError(
            f"{len(joined.rows)} usable labelled texts in the drop for {spec.model!r} "
            f"(at least {spec.min_feedback_rows} needed): send feedback with POST /v1/feedback "
            "on predictions logged with `payload_log.inputs: text`"
        )
    rows = _base_rows(spec.base_snapshot)
    added = pd.DataFrame(
        {"text": [r.text for r in joined.rows], "label": [r.label for r in joined.rows]}
    )
    merged = pd.concat([rows, added], ignore_index=True)
    staged = snapshots_dir / f".feedback-{uuid.uuid4().hex[:12]}"
    staged.mkdir(parents=True)
    # A snapshot built on an earlier feedback snapshot keeps one suffix, not one per round.
    stem = base.source.name.split(".")[0]
    source_name = stem if stem.endswith(FEEDBACK_SUFFIX) else stem + FEEDBACK_SUFFIX
    source = staged / f"{source_name}.parquet"
    merged.to_parquet(source, index=False)
    keys = sorted(f"{r.request_id}:{r.index}" for r in joined.rows)
    lineage = FeedbackLineage(
        base_snapshot=spec.base_snapshot.name,
        base_digest=base.digest,
        base_rows=len(rows),
        feedback_rows=len(joined.rows),
        request_ids=len({r.request_id for r in joined.rows}),
        request_ids_sha256=hashlib.sha256("\n".join(keys).encode()).hexdigest(),
        drop_files=contents.files,
        unmatched=joined.unmatched,
        conflicting=joined.conflicting,
        without_text=joined.without_text,
    )
    config = IngestConfig(
        source=source,
        labels=list(base.labels),
        seed=base.seed,
        validation_fraction=base.validation_fraction,
        test_fraction=base.test_fraction,
    )
    step(f"merged {len(rows)} snapshot rows with {len(added)} from feedback into {source.name}")
    return config, lineage, staged
