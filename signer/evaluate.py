"""The signer's own measurement of a bundle on the snapshot's held-out split.

Why the signer measures again: the accuracy on a version's tags is what the train zone wrote,
and a compromised train zone can write any figure. The signer runs the bundle's ONNX model
(fp32, what the gate judged) on the test split of the snapshot the version names, tokenised
with the bundle's own tokenizer, as the serve zone would run it. No torch, no training code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from contracts import bundle
from contracts import snapshot as snapshots

BATCH = 64


class HeldOutFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    accuracy: float
    macro_f1: float
    examples: int


def held_out(snapshot: Path) -> tuple[list[str], list[str]]:
    """The test split's texts and labels, from the files its verified manifest lists."""
    import pyarrow.parquet as pq

    manifest = snapshots.verify(snapshot)
    texts: list[str] = []
    labels: list[str] = []
    for entry in manifest.splits["test"].files:
        table = pq.read_table(snapshot / entry.path, columns=["text", "label"])
        texts.extend(str(t) for t in table.column("text").to_pylist())
        labels.extend(str(label) for label in table.column("label").to_pylist())
    return texts, labels


def logits(folder: Path, manifest: bundle.BundleManifest, texts: list[str]) -> np.ndarray:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / bundle.TOKENIZER_DIR / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=manifest.max_length)
    # Batches of texts of similar length: a batch pads to its longest text, and the split's
    # order mixed long reviews into every batch of short ones. Each text's logits go back to
    # its own row (docs/performance.md has the time it saves).
    counts = [len(encoding.ids) for encoding in tokenizer.encode_batch(texts)]
    order = sorted(range(len(texts)), key=counts.__getitem__)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(folder / bundle.MODEL_FP32), options, providers=["CPUExecutionProvider"]
    )
    result = np.zeros((len(texts), len(manifest.labels)), dtype=np.float32)
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        encodings = tokenizer.encode_batch([texts[i] for i in rows])
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feeds = {name: np.asarray(columns[name], dtype=np.int64) for name in manifest.input_names}
        result[rows] = session.run([manifest.output_name], feeds)[0]
    return result


def macro_f1(truth: list[int], predicted: list[int]) -> float:
    """As scikit-learn's ``f1_score(average="macro")``: over every label either side uses,
    a label with no true or predicted example scoring 0."""
    scores = []
    for label in sorted(set(truth) | set(predicted)):
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == label)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if p == label != t)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label != p)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def measure(folder: Path, manifest: bundle.BundleManifest, snapshot: Path) -> HeldOutFigures:
    texts, labels = held_out(snapshot)
    unknown = sorted(set(labels) - set(manifest.labels))
    if unknown:
        raise ValueError(f"the snapshot's test split has labels the model lacks: {unknown[:5]}")
    truth = [manifest.labels.index(label) for label in labels]
    predicted = [int(i) for i in logits(folder, manifest, texts).argmax(axis=1)]
    accuracy = float(np.mean([t == p for t, p in zip(truth, predicted, strict=True)]))
    return HeldOutFigures(
        accuracy=accuracy, macro_f1=macro_f1(truth, predicted), examples=len(texts)
    )
