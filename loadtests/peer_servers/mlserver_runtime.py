"""Seldon MLServer with a custom runtime around the champion bundle (Open Inference Protocol v2).

``python mlserver_runtime.py --bundle B --port P --workers N --threads T --folder F`` writes the
``settings.json`` / ``model-settings.json`` pair MLServer's docs describe into F and runs
``mlserver start F``. ``--workers`` is MLServer's ``parallel_workers`` (inference processes
behind one HTTP front process; MLServer's default is 1).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from mlserver import MLModel
from mlserver.codecs import StringCodec
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput
from text_model import TextModel, common_arguments


class SentimentRuntime(MLModel):  # type: ignore[misc]
    async def load(self) -> bool:
        extra = self.settings.parameters.extra or {}
        self.model = TextModel(Path(self.settings.parameters.uri), int(extra.get("threads", 1)))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        texts = StringCodec.decode_input(payload.inputs[0])
        predictions = self.model.predict(texts)
        scores = [p["score"] for p in predictions]
        return InferenceResponse(
            model_name=self.name,
            id=payload.id,
            outputs=[
                StringCodec.encode_output("label", [p["label"] for p in predictions]),
                ResponseOutput(name="score", shape=[len(scores)], datatype="FP32", data=scores),
            ],
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = common_arguments(__doc__ or "")
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": args.port,
        "grpc_port": _free_port(),
        "metrics_port": _free_port(),
        "parallel_workers": args.workers,
    }
    model_settings = {
        "name": args.model_name,
        "implementation": "mlserver_runtime.SentimentRuntime",
        "parameters": {"uri": str(args.bundle.resolve()), "extra": {"threads": args.threads}},
    }
    (args.folder / "settings.json").write_text(json.dumps(settings))
    (args.folder / "model-settings.json").write_text(json.dumps(model_settings))
    mlserver = str(Path(sys.executable).parent / "mlserver")
    os.execv(mlserver, [mlserver, "start", str(args.folder)])


if __name__ == "__main__":
    main()
