"""The same ONNX bundle as an MLflow pyfunc model, for ``mlflow models serve``.

This is what a user of MLflow alone would serve: the model logged as pyfunc, served by
MLflow's own scoring server (``--env-manager local``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mlflow.pyfunc


class OnnxSentiment(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    def load_context(self, context: Any) -> None:
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        bundle = Path(context.artifacts["bundle"])
        manifest = json.loads((bundle / "manifest.json").read_text())
        self.labels = json.loads((bundle / "labels.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(bundle / "tokenizer" / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(manifest["max_length"]))
        self.tokenizer.enable_padding(
            pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]"
        )
        self.session = ort.InferenceSession(
            str(bundle / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.np = np

    # Unannotated on purpose: MLflow reads predict's type hints as an input schema and warns
    # about any it cannot use; this model takes a DataFrame or a list, like most pyfuncs.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        np = self.np
        if hasattr(model_input, "iloc"):  # a DataFrame: the first column holds the texts
            texts = [str(t) for t in model_input.iloc[:, 0].tolist()]
        else:
            texts = [str(t) for t in model_input]
        enc = self.tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in enc],
            "attention_mask": [e.attention_mask for e in enc],
            "token_type_ids": [e.type_ids for e in enc],
        }
        feeds = {n: np.asarray(columns[n], dtype=np.int64) for n in self.input_names}
        logits = self.session.run(None, feeds)[0]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        return [{"label": self.labels[int(r.argmax())], "score": float(r.max())} for r in probs]


def save(bundle: Path, destination: Path) -> Path:
    """Write a pyfunc model folder that carries the bundle as an artifact."""
    # MLflow warns that a pickled model runs code when loaded: this one is ours, saved and
    # served by the bench on the same machine, so the warning is noise in its output.
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_log.level
    pyfunc_log.setLevel(logging.ERROR)
    try:
        mlflow.pyfunc.save_model(
            path=str(destination),
            python_model=OnnxSentiment(),
            artifacts={"bundle": str(bundle)},
            # Given, so MLflow does not load the model in a subprocess to infer them.
            pip_requirements=["onnxruntime", "tokenizers", "numpy"],
        )
    finally:
        pyfunc_log.setLevel(level)
    return destination
