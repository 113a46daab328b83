"""Covers: training/export.py ort_logits (batches by token length, rows in the given order).

The train job evaluates the test split in batches of texts of similar length; each text's
logits must land on its own row, as the model gives that text alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training import export
from training.modeling import build_model, load_tokenizer
from training.schema import Backbone


def test_each_text_gets_its_own_logits_in_the_order_given(tmp_path: Path) -> None:
    tokenizer = load_tokenizer()
    model = build_model(Backbone.TINY, 2, seed=0)
    names = export.export_onnx(model, tokenizer, tmp_path / "m.onnx", 32)
    session = export.ort_session(tmp_path / "m.onnx")
    words = ["a", "fine", "film", "with", "a", "long", "tale", "of", "woe", "and", "wonder"]
    texts = [" ".join(words[: 1 + (i * 5) % len(words)]) for i in range(64 + 11)]
    together = export.ort_logits(session, tokenizer, texts, names, 32)
    alone = np.concatenate([export.ort_logits(session, tokenizer, [t], names, 32) for t in texts])
    assert together.shape == (len(texts), 2)
    assert np.abs(together - alone).max() < 1e-4
