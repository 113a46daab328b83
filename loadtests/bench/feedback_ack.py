"""What "202 means kept" costs: feedback handed to a real drop keeper over its acknowledged
socket (written and fsynced before the answer) against the old fire-and-forget datagram, at 1
and 8 concurrent senders, in one run on this machine's disk.

    python -m loadtests.bench.feedback_ack [--records 400]

Prints per-record latency (p50, p99) and records/s for each leg; the ratio is what a client
pays per feedback call for the promise (predictions never pay it).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from contracts.drop import feedback_socket_of
from contracts.request_ids import RequestIds
from serving.payload_log import FeedbackSender

# The keeper keeps only rows whose request id the serve zone's key minted (drop/keeper.py).
KEY = b"bench-request-id-key-0123456789"
IDS = RequestIds(KEY)


def _record(n: int, kind: str) -> bytes:
    """A feedback record, or for the datagram leg the sample a datagram carries now (labels
    only travel acknowledged); the same id and time either way."""
    request_id = IDS.issue("bench")
    body: dict[str, object] = {"request_id": request_id, "time": time.time(), "model": "bench"}
    if kind == "feedback":
        body.update(kind="feedback", label="fresh")
    else:
        body.update(
            kind="prediction",
            version="1",
            label="fresh",
            score=0.9,
            scores={"fresh": 0.9},
            latency_ms=1.0,
            chars=4,
            text_sha256="0" * 64,
        )
    return json.dumps(body).encode() + b"\n"


def _leg(senders: int, records: int, send: Callable[[bytes], None], kind: str) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        mine = []
        for n in range(records):
            started = time.perf_counter()
            send(_record(offset * records + n, kind))
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "records_per_s": len(ordered) / elapsed,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400, help="Records per sender.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        root = Path(folder)
        drop_socket = root / "drop.sock"
        key = root / "request-id-key"
        key.write_bytes(KEY)
        command = [sys.executable, "-m", "drop.keeper", "--socket", str(drop_socket)]
        command += ["--root", str(root / "records"), "--stats", str(root / "stats.json")]
        command += ["--request-id-key", str(key)]
        keeper = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not Path(feedback_socket_of(str(drop_socket))).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the keeper did not start")
                time.sleep(0.05)
            acknowledged = FeedbackSender(str(drop_socket)).keep

            local = threading.local()

            def datagram(line: bytes) -> None:
                if not hasattr(local, "sock"):
                    local.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    local.sock.connect(str(drop_socket))
                local.sock.send(line)

            rows = []
            for senders in (1, 8):
                legs = (
                    ("datagram (sample)", datagram, "prediction"),
                    ("acknowledged", acknowledged, "feedback"),
                )
                for name, send, kind in legs:
                    figures = _leg(senders, args.records, send, kind)
                    rows.append((senders, name, figures))
        finally:
            keeper.terminate()
            keeper.wait(timeout=10)
        kept = sum(
            1
            for path in (root / "records" / "bench").glob("*.jsonl")
            for line in path.read_text().split("\n")
            if line.strip()
        )
    print(f"{'senders':>7}  {'path':<18} {'p50 ms':>7} {'p99 ms':>7} {'records/s':>10}")
    for senders, name, figures in rows:
        print(
            f"{senders:>7}  {name:<18} {figures['p50_ms']:>7.3f} {figures['p99_ms']:>7.3f} "
            f"{figures['records_per_s']:>10.0f}"
        )
    sent = 2 * (1 + 8) * args.records
    print(f"records on disk: {kept} of {sent} sent ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
