"""A corpus of malformed and hostile requests; each must get a 4xx, never a 5xx or a hang."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HostileCase:
    name: str
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    path: str = "/v1/predict"
    method: str = "POST"
    auth: bool = True


def corpus() -> list[HostileCase]:
    texts = json.dumps
    return [
        HostileCase("invalid UTF-8", b'{"texts": ["\xff\xfe\xfa broken"]}'),
        HostileCase("malformed JSON", b'{"texts": ["unterminated'),
        HostileCase("empty body", b""),
        HostileCase("JSON null", b"null"),
        HostileCase("texts null", b'{"texts": null}'),
        HostileCase("null text", b'{"texts": [null]}'),
        HostileCase("numbers as texts", b'{"texts": [1, 2.5]}'),
        HostileCase("object as text", b'{"texts": [{"a": 1}]}'),
        HostileCase("empty text", b'{"texts": [""]}'),
        HostileCase("whitespace text", b'{"texts": ["   \\n\\t"]}'),
        HostileCase("no texts", b'{"texts": []}'),
        HostileCase("unknown field only", b'{"text": "a"}'),
        HostileCase("very long text", texts({"texts": ["a" * 5000]}).encode()),
        HostileCase("thousands of texts", texts({"texts": ["ok"] * 5000}).encode()),
        HostileCase("huge body (1 MiB)", texts({"texts": ["b" * (1 << 20)]}).encode()),
        HostileCase("deep nesting", b'{"texts": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
        HostileCase("deep nesting, small", b'{"texts": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"),
        HostileCase("wrong content type", b'{"texts": ["a"]}', {"content-type": "text/plain"}),
        HostileCase("form body", b"texts=a", {"content-type": "application/x-www-form-urlencoded"}),
        HostileCase("missing key", b'{"texts": ["a"]}', auth=False),
        HostileCase("wrong method", b"", path="/v1/predict", method="GET"),
        HostileCase("unknown route", b"{}", path="/v1/nothing-here"),
        HostileCase(
            "OIP shape mismatch",
            texts(
                {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": ["a"]}]}
            ).encode(),
            path="/v2/models/sentiment/infer",
        ),
        HostileCase(
            "OIP wrong datatype",
            texts(
                {"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
            ).encode(),
            path="/v2/models/sentiment/infer",
        ),
        HostileCase(
            "OIP unknown model",
            texts(
                {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}
            ).encode(),
            path="/v2/models/nope/infer",
        ),
    ]
