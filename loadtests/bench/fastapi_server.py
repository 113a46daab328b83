"""The server a user would write by hand: FastAPI + uvicorn + onnxruntime, one process.

Deliberately plain (default onnxruntime session, a sync endpoint in FastAPI's thread pool):
it is the baseline Bulkhead has to beat, not a straw man -- it has no auth and no limits.

    python -m loadtests.bench.fastapi_server --bundle DIR --port 8601
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from tokenizers import Tokenizer


class Texts(BaseModel):
    texts: list[str]


def build_app(bundle: Path) -> FastAPI:
    manifest = json.loads((bundle / "manifest.json").read_text())
    labels = json.loads((bundle / "labels.json").read_text())
    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer" / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=int(manifest["max_length"]))
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    input_names = [i.name for i in session.get_inputs()]
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(body: Texts) -> dict[str, list[dict[str, object]]]:
        enc = tokenizer.encode_batch(body.texts)
        columns = {
            "input_ids": [e.ids for e in enc],
            "attention_mask": [e.attention_mask for e in enc],
            "token_type_ids": [e.type_ids for e in enc],
        }
        feeds = {n: np.asarray(columns[n], dtype=np.int64) for n in input_names}
        logits = session.run(None, feeds)[0]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        return {
            "predictions": [
                {"label": labels[int(row.argmax())], "score": float(row.max())} for row in probs
            ]
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8601)
    args = parser.parse_args()
    uvicorn.run(build_app(args.bundle), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
