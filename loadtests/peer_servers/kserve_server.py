"""KServe's Python model server around the champion bundle: ``kserve.Model`` + ``ModelServer``.

Serves v1 (``POST /v1/models/NAME:predict``, ``{"instances": [text]}``) and the Open Inference
Protocol v2 (``POST /v2/models/NAME/infer``, one BYTES input) from the same process(es), as
KServe's docs show a custom predictor. ``--workers N`` is KServe's own multi-process REST
server (one model copy per process). The launcher turns KServe's per-request latency log line
off (``--enable_latency_logging false``), as a user tuning for speed would.
"""

from __future__ import annotations

import json
from typing import Any

from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from text_model import TextModel, common_arguments


def _texts(payload: Any) -> list[str]:
    if isinstance(payload, InferRequest):
        data = payload.inputs[0].data
        return [d.decode() if isinstance(d, bytes) else str(d) for d in data]
    if isinstance(payload, bytes):  # a v1 body sent without a JSON content type
        payload = json.loads(payload)
    return [str(t) for t in payload["instances"]]


class SentimentModel(Model):  # type: ignore[misc]
    def __init__(self, name: str, bundle: Any, threads: int) -> None:
        super().__init__(name)
        self.bundle, self.threads = bundle, threads
        self.load()

    def load(self) -> bool:
        self.model = TextModel(self.bundle, self.threads)
        self.ready = True
        return True

    # KServe's multi-process server pickles the registered models into each worker (spawn);
    # an onnxruntime session cannot be pickled, so every worker loads its own copy.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "model"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.load()

    def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        predictions = self.model.predict(_texts(payload))
        if not isinstance(payload, InferRequest):
            return {"predictions": predictions}
        labels = [p["label"] for p in predictions]
        scores = [p["score"] for p in predictions]
        return InferResponse(
            response_id=payload.id or "",
            model_name=self.name,
            infer_outputs=[
                InferOutput(name="label", shape=[len(labels)], datatype="BYTES", data=labels),
                InferOutput(name="score", shape=[len(scores)], datatype="FP32", data=scores),
            ],
        )


def main() -> None:
    # KServe's own flags (e.g. --enable_latency_logging) are read by kserve from sys.argv.
    args, _ = common_arguments(__doc__ or "").parse_known_args()
    model = SentimentModel(args.model_name, args.bundle, args.threads)
    ModelServer(http_port=args.port, workers=args.workers, enable_grpc=False).start([model])


if __name__ == "__main__":
    main()
