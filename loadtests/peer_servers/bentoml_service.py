"""A BentoML service around the champion bundle, as BentoML's docs write one.

``bentoml serve bentoml_service:Sentiment --port P`` from this folder; ``PEER_BUNDLE``,
``PEER_WORKERS`` and ``PEER_THREADS`` carry the settings because BentoML reads ``workers``
from the decorator when it imports the module. ``POST /predict`` with ``{"texts": [...]}``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bentoml
from text_model import TextModel


@bentoml.service(  # type: ignore[misc]
    workers=int(os.environ.get("PEER_WORKERS", "1")),
    traffic={"timeout": 30},
    # One access-log line per request is BentoML's default; a user tuning for speed turns it
    # off (Bulkhead's access log is off too).
    logging={"access": {"enabled": False}},
)
class Sentiment:
    def __init__(self) -> None:
        self.model = TextModel(
            Path(os.environ["PEER_BUNDLE"]), int(os.environ.get("PEER_THREADS", "1"))
        )

    @bentoml.api  # type: ignore[misc]
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        return self.model.predict(texts)
