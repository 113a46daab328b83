"""Export the fine-tuned model to the ONNX bundle of the model contract, with evidence."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from registry import bundle
from training.data import Split

OPSET = 17
INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")


def _wrapper(model: Any, input_names: list[str]) -> Any:
    import torch

    class LogitsOnly(torch.nn.Module):
        """ONNX wants positional tensors in and one tensor out."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(input_names, tensors, strict=True))).logits

    return LogitsOnly().eval()


def input_names_for(tokenizer: Any) -> list[str]:
    produced = tokenizer(["x"], return_tensors="np")
    return [name for name in INPUT_ORDER if name in produced]


def export_onnx(model: Any, tokenizer: Any, path: Path, max_length: int) -> list[str]:
    import torch

    names = input_names_for(tokenizer)
    dummy = tokenizer(
        ["an example to trace", "b"],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch"}
    model.eval()
    # Tracing a Hugging Face model warns about Python control flow on tensors and about how
    # indexing is lowered; the export is judged by measured parity on real texts in batch
    # shapes it was not traced with (gated at 1e-4), so those warnings are noise here.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _wrapper(model, names),
            tuple(dummy[name] for name in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return names


def ort_session(path: Path, threads: int = 1) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_logits(
    session: Any, tokenizer: Any, texts: list[str], names: list[str], max_length: int
) -> np.ndarray:
    """Each text's logits, in the order given. Batched by token length: a batch pads to its
    longest text, and in the split's order every batch of short reviews carried a long one
    (the serve zone's signer measures the same way: signer/evaluate.py)."""
    order = list(range(len(texts)))
    if len(texts) > 64:  # one batch pads to its longest text however it is ordered
        encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        order.sort(key=lambda row: len(encoded[row]))
    result: np.ndarray | None = None
    for start in range(0, len(order), 64):
        rows = order[start : start + 64]
        enc = tokenizer(
            [texts[i] for i in rows],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="np",
        )
        feeds = {name: enc[name].astype(np.int64) for name in names}
        out = session.run(["logits"], feeds)[0]
        if result is None:
            result = np.zeros((len(texts), out.shape[1]), dtype=out.dtype)
        result[rows] = out
    if result is None:
        raise ValueError("no texts to evaluate")
    return result


def torch_logits(model: Any, tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        enc = tokenizer(
            texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        result: np.ndarray = model(**enc).logits.numpy()
    return result


def parity(
    model: Any, tokenizer: Any, session: Any, texts: list[str], names: list[str], max_length: int
) -> float:
    """Max |torch - ONNX| logit difference on real texts, in batch shapes unseen at export."""
    worst = 0.0
    for size in (1, 3, 11):
        chunk = texts[:size]
        diff = np.abs(
            torch_logits(model, tokenizer, chunk, max_length)
            - ort_logits(session, tokenizer, chunk, names, max_length)
        )
        worst = max(worst, float(diff.max()))
    return worst


def quantize(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)


def latency_ms(
    session: Any, tokenizer: Any, texts: list[str], names: list[str], max_length: int
) -> dict[str, float]:
    """In-process tokenise + infer, one text at a time: the floor serving is measured against."""
    samples = []
    for text in texts[:10]:
        ort_logits(session, tokenizer, [text], names, max_length)  # warm-up
    for text in texts:
        started = time.perf_counter()
        ort_logits(session, tokenizer, [text], names, max_length)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "p50": float(np.percentile(samples, 50)),
        "p95": float(np.percentile(samples, 95)),
    }


def write_golden(
    folder: Path, texts: list[str], logits: np.ndarray, label_names: list[str]
) -> None:
    lines = [
        bundle.GoldenExample(
            text=text, label=label_names[int(row.argmax())], logits=[float(v) for v in row]
        ).model_dump_json()
        for text, row in zip(texts, logits, strict=True)
    ]
    (folder / bundle.GOLDEN).write_text("\n".join(lines) + "\n")


def write_labels(folder: Path, label_names: list[str]) -> None:
    (folder / bundle.LABELS).write_text(json.dumps(label_names))


def accuracy_of(predicted: np.ndarray, split: Split) -> float:
    return float((predicted == np.asarray(split.labels)).mean())
