"""The champion bundle as every peer serves it: tokenizer + onnxruntime session + labels.

Standalone on purpose (numpy, onnxruntime and tokenizers only): it runs inside each peer's own
virtual environment, where none of Bulkhead's packages are installed. The session options are
the ones a competent user picks on a small CPU box: ``threads`` intra-op threads (one per
worker process in the bench), one inter-op thread, no spinning. Bulkhead's replica lets its
two-thread session of a lone call spin while the call runs; with one thread (every peer's
setting here) spinning changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class TextModel:
    def __init__(self, bundle: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        manifest = json.loads((bundle / "manifest.json").read_text())
        self.labels: list[str] = json.loads((bundle / "labels.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(bundle / "tokenizer" / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(manifest["max_length"]))
        pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def logits(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feeds = {n: np.asarray(columns[n], dtype=np.int64) for n in self.input_names}
        result: np.ndarray = self.session.run(None, feeds)[0]
        return result

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        logits = self.logits(texts)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        return [{"label": self.labels[int(r.argmax())], "score": float(r.max())} for r in probs]


def common_arguments(description: str) -> Any:
    """``--bundle --port --workers --threads``: the same knobs for every peer."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-name", default="sentiment")
    return parser
