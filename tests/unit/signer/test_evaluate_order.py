"""Covers: signer/evaluate.py (length-sorted batches, logits back in the split's order).

The signer batches texts of similar length so a batch pads little; every text's logits must
still land on its own row, equal to what the model gives that text alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contracts import bundle
from signer.evaluate import BATCH, logits
from tests.utils.bundles import make_bundle


def test_each_text_gets_its_own_logits_whatever_the_batching(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b")
    manifest = bundle.BundleManifest.model_validate_json((folder / bundle.MANIFEST).read_text())
    words = [
        "a",
        "fine",
        "film",
        "with",
        "a",
        "long",
        "tale",
        "of",
        "woe",
        "and",
        "wonder",
        "across",
        "many",
        "years",
    ]
    # Lengths out of order, and more texts than one batch.
    texts = [" ".join(words[: 1 + (i * 7) % len(words)]) for i in range(BATCH + 9)]
    together = logits(folder, manifest, texts)
    alone = np.concatenate([logits(folder, manifest, [text]) for text in texts])
    assert together.shape == (len(texts), len(manifest.labels))
    assert np.abs(together - alone).max() < 1e-4
