"""A Ray-free predictor: load a verified bundle, self-check it, predict. Never imports torch.

The Serve deployment only wraps this class; unit tests use it directly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry import bundle


class ModelLoadError(RuntimeError):
    """A bundle failed verification, loading or its self-check; the old model stays."""


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float
    scores: dict[str, float]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    run_id: str | None
    precision: str


class Predictor:
    """One loaded model version: tokenizer + onnxruntime session + labels."""

    def __init__(
        self, folder: Path, info: ModelInfo, threads: int = 1, precision: str = "fp32"
    ) -> None:
        self.folder = folder
        self.threads = threads
        try:
            self.manifest = bundle.verify(folder)
        except bundle.BundleError as err:
            raise ModelLoadError(f"bundle rejected: {err}") from err
        use_int8 = precision == "int8" and self.manifest.has_int8
        self.info = ModelInfo(info.name, info.version, info.run_id, "int8" if use_int8 else "fp32")
        self.labels: list[str] = json.loads((folder / bundle.LABELS).read_text())
        self._tokenizer = self._load_tokenizer(folder, self.manifest.max_length)
        model_file = folder / (bundle.MODEL_INT8 if use_int8 else bundle.MODEL_FP32)
        self._session = self._load_session(model_file, threads)
        # Concurrent calls use a single-thread session of the same model: one session per
        # thread count, because onnxruntime fixes the intra-op pool when a session is made.
        self._narrow = self._session if threads == 1 else self._load_session(model_file, 1)
        self._inputs = list(self.manifest.input_names)

    @staticmethod
    def _load_tokenizer(folder: Path, max_length: int) -> Any:
        from tokenizers import Tokenizer

        path = folder / bundle.TOKENIZER_DIR / "tokenizer.json"
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # tokenizers raises plain Exception subclasses
            raise ModelLoadError(f"tokenizer unusable: {err}") from err
        tokenizer.enable_truncation(max_length=max_length)
        pad_id = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=pad_id or 0, pad_token="[PAD]")
        return tokenizer

    @staticmethod
    def _load_session(path: Path, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads burn the CPU the proxy and tokeniser need on a small replica.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"{path.name} is not a loadable ONNX model: {err}") from err

    def logits(self, texts: list[str], *, alone: bool = True) -> np.ndarray:
        """Model outputs; ``alone=False`` when other calls run at the same time (1 thread)."""
        encodings = self._tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feeds = {name: np.asarray(columns[name], dtype=np.int64) for name in self._inputs}
        session = self._session if alone else self._narrow
        result: np.ndarray = session.run(["logits"], feeds)[0]
        return result

    def predict(self, texts: list[str], *, alone: bool = True) -> list[Prediction]:
        logits = self.logits(texts, alone=alone)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = shifted / shifted.sum(axis=-1, keepdims=True)
        out = []
        for row in probs:
            best = int(row.argmax())
            out.append(
                Prediction(
                    label=self.labels[best],
                    score=float(row[best]),
                    scores={label: float(p) for label, p in zip(self.labels, row, strict=True)},
                )
            )
        return out

    def self_check(self, tolerance: float) -> None:
        """Run golden.jsonl: labels must match, and fp32 logits must match closely."""
        golden = bundle.read_golden(self.folder)
        if not golden:
            raise ModelLoadError("golden.jsonl is empty")
        logits = self.logits([g.text for g in golden])
        for example, row in zip(golden, logits, strict=True):
            diff = float(np.abs(row - np.asarray(example.logits)).max())
            if self.info.precision == "fp32":
                # fp32 must reproduce the exported logits; labels then follow (a label check
                # would only add false alarms on near-ties).
                if diff > tolerance or not math.isfinite(diff):
                    raise ModelLoadError(
                        f"self-check failed: logits differ by {diff:.2e} on {example.text[:40]!r}"
                    )
                continue
            # int8 legitimately moves logits: its label must match where fp32 was sure.
            label = self.labels[int(row.argmax())]
            margin = float(max(example.logits) - min(example.logits))
            if label != example.label and margin > 1.0:
                raise ModelLoadError(
                    f"self-check failed: {example.text[:40]!r} -> {label}, expected {example.label}"
                )

    def warm_up(self) -> None:
        for size in (1, 8):
            for alone in (True, False):
                self.logits(["warm-up text for the first calls"] * size, alone=alone)
