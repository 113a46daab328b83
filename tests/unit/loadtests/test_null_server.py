"""Covers: loadtests/bench/null_server.py (the bench's floor: no model, a fixed answer).

The floor must read the whole request as any server would, answer the shape of a prediction,
and run behind a config HAProxy accepts; it is never counted as a peer."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from bulkhead.platform.haproxy_wrapper import haproxy_binary
from loadtests.bench.null_server import app, haproxy_config
from loadtests.bench.report import add_ratios
from tests.unit.loadtests.test_bench_report import _figures, _report, _system


def _call(method: str, chunks: list[bytes]) -> tuple[int, bytes, int]:
    sent: list[dict[str, Any]] = []
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method}, receive, send))
    return sent[0]["status"], sent[1]["body"], len(pending)


def test_it_reads_the_whole_body_and_answers_a_prediction() -> None:
    status, body, unread = _call("POST", [b'{"texts": ', b'["a fine film"]}'])
    assert status == 200 and unread == 0
    assert json.loads(body)["predictions"][0]["label"] == "fresh"
    assert _call("GET", [b""])[0] == 200


def test_its_haproxy_config_is_one_haproxy_accepts(tmp_path: Path) -> None:
    cfg = tmp_path / "null.cfg"
    cfg.write_text(haproxy_config(18997, 18996))
    checked = subprocess.run([haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_floor_is_never_a_peer() -> None:
    report = _report()
    floor = _system("null server (no model)", _figures(900, 1.0), _figures(9000, 2.0), "direct")
    report = add_ratios(report.model_copy(update={"floor": [floor]}))
    assert all(not p.system.startswith("null") for p in report.peers())
    assert not any("null" in t.name for t in report.targets)
    assert report.bulkhead("fp32") is not None
