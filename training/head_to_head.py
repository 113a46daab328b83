"""The gate's comparison with the champion, made on the candidate's own test split.

A version records its accuracy on the test split of the snapshot it was trained on. While the
snapshot stays the same, the champion's recorded figure and the candidate's measure the same
thing. Once it changes (new data; labelled production texts merged in by `ingest
--from-feedback`), they do not: the feedback loop's first run on the real model refused a
retrained subjectivity model at 0.895 against the champion's 0.911, a figure the champion had
earned on its own split, while it scored 0.499 on held-out texts of the shifted stream that
the new split samples. So when the champion's `dataset_digest` differs from the candidate's,
the champion's bundle is fetched from the registry and evaluated here, on the candidate's test
split, and the gate compares like with like.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from contracts.bundle import BundleManifest
from registry import bundle
from registry.gate import Evidence
from training.progress import log


def bundle_predictions(
    folder: Path, manifest: BundleManifest, texts: list[str], label_names: list[str]
) -> np.ndarray:
    """Indices into ``label_names`` the verified bundle in ``folder`` (``manifest``: what
    verifying it returned) predicts for ``texts`` (-1 for a label the bundle has and the split
    lacks: always wrong)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    from training import export

    tokenizer = AutoTokenizer.from_pretrained(
        str(folder / bundle.TOKENIZER_DIR), use_fast=True, local_files_only=True
    )
    session = export.ort_session(folder / bundle.MODEL_FP32, threads=2)
    logits = export.ort_logits(
        session, tokenizer, texts, list(manifest.input_names), manifest.max_length
    )
    index = {name: i for i, name in enumerate(label_names)}
    return np.asarray([index.get(manifest.labels[i], -1) for i in logits.argmax(-1)])


def _evaluated_here(
    model_name: str, champion: str, recorded: Evidence, snapshot: Path, digest: str
) -> Evidence:
    from registry.reader import RegistryReader
    from training import evaluate
    from training.data import load_snapshot

    data = load_snapshot(snapshot, max_train_examples=1, seed=0)
    reader = RegistryReader(poll_route=False)
    resolved = reader.pinned(model_name, champion)
    with tempfile.TemporaryDirectory() as tmp:
        folder = reader.download(resolved, Path(tmp))
        manifest = bundle.verify(folder, resolved.manifest_digest)
        predicted = bundle_predictions(folder, manifest, data.test.texts, data.label_names)
    metrics = evaluate.classification_metrics(data.test.labels, predicted, data.label_names)
    return Evidence(
        accuracy=metrics["accuracy"],
        macro_f1=metrics["macro_f1"],
        parity_max_abs_diff=recorded.parity_max_abs_diff,
        dataset_digest=digest,
    )


def champion_evidence(
    model_name: str, writer: Any, champion: str | None, snapshot: Path, digest: str
) -> tuple[Evidence | None, bool]:
    """What the gate compares the candidate with, and whether it was measured on the
    candidate's test split here. Falls back to the recorded figures (and says so) when the
    champion cannot be fetched or run: the gate then judges as it always did."""
    recorded = writer.evidence(champion) if champion else None
    if recorded is None or champion is None or recorded.dataset_digest == digest:
        return recorded, False
    try:
        here = _evaluated_here(model_name, champion, recorded, snapshot, digest)
    except Exception as err:  # the comparison must not cost the version its gate
        log(
            f"champion v{champion} could not be evaluated on this test split ({err}); "
            f"comparing with its recorded accuracy {recorded.accuracy:.4f}"
        )
        return recorded, False
    log(
        f"champion v{champion} on this snapshot's test split: accuracy {here.accuracy:.4f}, "
        f"macro-F1 {here.macro_f1:.4f} (on its own snapshot's: {recorded.accuracy:.4f})"
    )
    return here, True
