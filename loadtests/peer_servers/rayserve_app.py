"""Stock Ray Serve as its docs show it: one deployment, a FastAPI ingress, the default proxy.

Starts its own local Ray cluster (never one of the platform's), serves ``POST /predict`` with
``{"texts": [...]}`` and ``GET /health``, and shuts Serve and the cluster down on SIGTERM.
``--workers`` is the number of replicas (one CPU each).
"""

# No ``from __future__ import annotations``: FastAPI must see the ``Texts`` class itself in the
# route signature once Ray has shipped the deployment to its replica process (a string
# annotation does not resolve there, and every body would be read as a query: 422).

import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).parent))
from text_model import TextModel, common_arguments

api = FastAPI()


class Texts(BaseModel):
    texts: list[str]


def build(bundle: Path, threads: int, replicas: int) -> Any:
    from ray import serve

    @serve.deployment(num_replicas=replicas, ray_actor_options={"num_cpus": 1})
    @serve.ingress(api)
    class Sentiment:
        def __init__(self) -> None:
            self.model = TextModel(bundle, threads)

        @api.post("/predict")
        def predict(self, body: Texts) -> dict[str, Any]:
            return {"predictions": self.model.predict(body.texts)}

        @api.get("/health")
        def health(self) -> dict[str, str]:
            return {"status": "ok"}

    return Sentiment.bind()


def main() -> None:
    import ray
    from ray import serve

    args = common_arguments(__doc__ or "").parse_args()
    # Replica processes must import text_model too; they inherit this environment.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if p
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The launcher's folder (loadtests/bench/peers.py removes it after the peer stops, even a
    # killed one); one of its own when started by hand. Short: Ray's socket paths fit 107 bytes.
    given = os.environ.get("PEER_RAY_TEMP_DIR")
    temp = given or tempfile.mkdtemp(prefix="bh-rs-")
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False, _temp_dir=temp)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": args.port})
        serve.run(build(args.bundle.resolve(), args.threads, args.workers), route_prefix="/")
        print("ready", flush=True)
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)  # the bench leaves nothing in /tmp


if __name__ == "__main__":
    main()
