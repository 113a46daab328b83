"""``python -m loadtests.bench.latency_probe URL KEYFILE [--ca CA] [-n N]``: one client,
keep-alive, sequential predictions; prints p50/p90/p99 in ms as JSON.

Used to measure what a transport choice costs (e.g. `up --tls`: HTTPS through Serve's proxy
against plain HTTP through HAProxy), one configuration per run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx


def measure(url: str, key: str, verify: str | bool, requests: int, warmup: int) -> dict[str, float]:
    body = {"texts": ["a quietly moving film with two superb performances"]}
    headers = {"Authorization": f"Bearer {key}"}
    samples: list[float] = []
    with httpx.Client(verify=verify, timeout=10) as client:
        for index in range(warmup + requests):
            started = time.perf_counter()
            response = client.post(f"{url}/v1/predict", json=body, headers=headers)
            elapsed_ms = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if index >= warmup:
                samples.append(elapsed_ms)
    cuts = statistics.quantiles(samples, n=100)
    return {
        "requests": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p90_ms": round(cuts[89], 2),
        "p99_ms": round(cuts[98], 2),
    }


def throughput(
    url: str, key: str, verify: str | bool, clients: int, seconds: float
) -> dict[str, float]:
    """``clients`` closed-loop threads for ``seconds``: requests per second and failures."""
    import threading

    body = {"texts": ["a quietly moving film with two superb performances"]}
    headers = {"Authorization": f"Bearer {key}"}
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop() -> None:
        with httpx.Client(verify=verify, timeout=10) as client:
            while time.monotonic() < deadline:
                try:
                    ok = client.post(f"{url}/v1/predict", json=body, headers=headers).is_success
                except httpx.HTTPError:
                    ok = False
                with lock:
                    counts["ok" if ok else "failed"] += 1

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"clients": clients, "rps": round(counts["ok"] / seconds, 1), "failed": counts["failed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("key_file", type=Path)
    parser.add_argument("--ca", default=None, help="CA file for HTTPS (default: system store)")
    parser.add_argument("-n", "--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--clients", type=int, default=0, help="also run N concurrent clients")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    verify: str | bool = args.ca if args.ca else True
    key = args.key_file.read_text().strip()
    result: dict[str, object] = {"url": args.url}
    result.update(measure(args.url, key, verify, args.requests, args.warmup))
    if args.clients:
        result.update(throughput(args.url, key, verify, args.clients, args.seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
