"""A Ray-free predictor: load a verified bundle, self-check it, predict. Never imports torch.

The Serve deployment only wraps this class; unit tests use it directly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contracts.signatures import VerifiedSignature
from registry import bundle


class ModelLoadError(RuntimeError):
    """A bundle failed verification, loading or its self-check; the old model stays."""


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float
    scores: dict[str, float]
    # What the model saw of the text: its tokens (after truncation, special ones included)
    # and how many the tokenizer could not spell (the payload log's unknown-token rate).
    tokens: int = 0
    unknown_tokens: int = 0


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    run_id: str | None
    precision: str
    # The data snapshot it learned from, as its verified signature binds it (None: unsigned,
    # a predictor built outside a replica's load path).
    snapshot_digest: str | None = None


class Predictor:
    """One loaded model version: tokenizer + onnxruntime session + labels."""

    def __init__(
        self,
        folder: Path,
        info: ModelInfo,
        threads: int = 1,
        precision: str = "fp32",
        manifest_digest: str | None = None,
    ) -> None:
        """``manifest_digest``: the digest the registry recorded at registration; a bundle
        whose manifest differs is refused."""
        self.folder = folder
        self.threads = threads
        try:
            self.manifest = bundle.verify(folder, manifest_digest)
        except bundle.BundleError as err:
            raise ModelLoadError(f"bundle rejected: {err}") from err
        use_int8 = precision == "int8" and self.manifest.has_int8
        self.info = ModelInfo(
            info.name,
            info.version,
            info.run_id,
            "int8" if use_int8 else "fp32",
            info.snapshot_digest,
        )
        # The signature it was verified under (serving/trust.py), set by the load path.
        self.provenance: VerifiedSignature | None = None
        self.labels = self._load_labels(folder, self.manifest.labels)
        self._tokenizer = self._load_tokenizer(folder, self.manifest.max_length)
        unknown = getattr(self._tokenizer.model, "unk_token", None) or "[UNK]"
        self._unknown_id: int | None = self._tokenizer.token_to_id(unknown)
        model_file = folder / (bundle.MODEL_INT8 if use_int8 else bundle.MODEL_FP32)
        self._session = self._load_session(model_file, threads)
        # Concurrent calls use a single-thread session of the same model: one session per
        # thread count, because onnxruntime fixes the intra-op pool when a session is made.
        self._narrow = self._session if threads == 1 else self._load_session(model_file, 1)
        self._inputs = list(self.manifest.input_names)
        self._output = self.manifest.output_name
        self._check_graph_interface()

    @staticmethod
    def _load_labels(folder: Path, expected: list[str]) -> list[str]:
        try:
            labels = json.loads((folder / bundle.LABELS).read_text())
        except (OSError, ValueError) as err:
            raise ModelLoadError(f"{bundle.LABELS} is unreadable: {err}") from err
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ModelLoadError(f"{bundle.LABELS} is not a list of label names")
        if labels != expected or len(set(labels)) != len(labels) or len(labels) < 2:
            raise ModelLoadError(
                f"{bundle.LABELS} {labels[:5]} does not match the manifest's labels {expected[:5]}"
            )
        return labels

    def _check_graph_interface(self) -> None:
        """The graph must take exactly the inputs the manifest names (all of which the
        tokenizer can feed) and produce the output it names."""
        known = {"input_ids", "attention_mask", "token_type_ids"}
        unknown = [name for name in self._inputs if name not in known]
        if unknown or not self._inputs:
            raise ModelLoadError(f"manifest input names {self._inputs} are not tokenizer outputs")
        for session in {id(self._session): self._session, id(self._narrow): self._narrow}.values():
            graph_inputs = sorted(i.name for i in session.get_inputs())
            if graph_inputs != sorted(self._inputs):
                raise ModelLoadError(
                    f"model inputs {graph_inputs} differ from the manifest's {self._inputs}"
                )
            outputs = [o.name for o in session.get_outputs()]
            if self._output not in outputs:
                raise ModelLoadError(f"model has no output {self._output!r} (it has {outputs})")

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
        # A lone call's pool threads spin while its run lasts and stop when it returns. Not
        # spinning at all made the two-thread session no faster than one thread (each
        # parallel section waited for a sleeping thread to wake): MiniLM-L6 on 20 short
        # reviews, p50 4.7-6.2 ms without spinning, 3.5-4.8 ms with it, 5.0-5.7 ms on one
        # thread (three interleaved rounds, 2 cores; docs/performance.md). Spinning past the
        # run would burn the CPU the proxy, the tokeniser and the next request need.
        spinning = "1" if threads > 1 else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        options.add_session_config_entry("session.force_spinning_stop", "1")
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"{path.name} is not a loadable ONNX model: {err}") from err

    def logits(
        self,
        texts: list[str],
        *,
        alone: bool = True,
        spans: dict[str, float] | None = None,
        counts: list[tuple[int, int]] | None = None,
    ) -> np.ndarray:
        """Model outputs; ``alone=False`` when other calls run at the same time (1 thread).
        ``spans``, when given, receives the milliseconds of ``tokenize`` and ``infer``;
        ``counts`` each text's (tokens, unknown tokens)."""
        started = time.perf_counter()
        encodings = self._tokenizer.encode_batch(texts)
        if counts is not None:
            unknown = self._unknown_id
            counts.extend(
                (sum(e.attention_mask), e.ids.count(unknown) if unknown is not None else 0)
                for e in encodings
            )
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feeds = {name: np.asarray(columns[name], dtype=np.int64) for name in self._inputs}
        session = self._session if alone else self._narrow
        tokenized = time.perf_counter()
        result: np.ndarray = session.run([self._output], feeds)[0]
        if spans is not None:
            spans["tokenize"] = (tokenized - started) * 1000
            spans["infer"] = (time.perf_counter() - tokenized) * 1000
        return result

    def predict(
        self, texts: list[str], *, alone: bool = True, spans: dict[str, float] | None = None
    ) -> list[Prediction]:
        """``spans``: see ``logits``; also receives ``postprocess`` (softmax and labels)."""
        started = time.perf_counter()
        predictions = self._logits_and_predictions(texts, alone=alone, spans=spans)[1]
        if spans is not None:
            total_ms = (time.perf_counter() - started) * 1000
            spans["postprocess"] = total_ms - spans["tokenize"] - spans["infer"]
        return predictions

    def _logits_and_predictions(
        self, texts: list[str], *, alone: bool, spans: dict[str, float] | None = None
    ) -> tuple[np.ndarray, list[Prediction]]:
        """The one path every request takes; the self-check takes it too."""
        counts: list[tuple[int, int]] = []
        logits = self.logits(texts, alone=alone, spans=spans, counts=counts)
        if logits.ndim != 2 or logits.shape != (len(texts), len(self.labels)):
            raise ModelLoadError(
                f"model output shape {list(logits.shape)} does not fit {len(texts)} texts x "
                f"{len(self.labels)} labels"
            )
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = shifted / shifted.sum(axis=-1, keepdims=True)
        out = []
        for row, (tokens, unknown) in zip(probs, counts, strict=True):
            best = int(row.argmax())
            out.append(
                Prediction(
                    label=self.labels[best],
                    score=float(row[best]),
                    scores={label: float(p) for label, p in zip(self.labels, row, strict=True)},
                    tokens=tokens,
                    unknown_tokens=unknown,
                )
            )
        return logits, out

    def self_check(self, tolerance: float) -> None:
        """Run golden.jsonl: labels must match, and fp32 logits must match closely."""
        try:
            golden = bundle.read_golden(self.folder)
        except (OSError, ValueError) as err:
            raise ModelLoadError(f"{bundle.GOLDEN} is malformed: {err}") from err
        if not golden:
            raise ModelLoadError("golden.jsonl is empty")
        texts = [g.text for g in golden]
        logits, _ = self._logits_and_predictions(texts, alone=True)
        # Overlapping requests use the single-thread session: it must work as well.
        self._logits_and_predictions(texts[:1], alone=False)
        for example, row in zip(golden, logits, strict=True):
            if len(example.logits) != len(self.labels) or example.label not in self.labels:
                raise ModelLoadError(f"golden example {example.text[:40]!r} does not fit labels")
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
