"""One client, sequential requests that ask for their per-hop split (``x-bulkhead-sent-ns``).

The replica reports each hop it can see (contracts.serve_api.HOPS); what is left of the
client's round trip is the way back (replica -> Serve's proxy -> client). Medians per hop.
"""

from __future__ import annotations

import statistics
import time

import httpx

from contracts.serve_api import HOPS, PREDICT, SENT_AT_HEADER, SERVER_TIMING_HEADER

RESPONSE_PATH = "response path"
ROUND_TRIP = "round trip (client)"


def parse_hops(server_timing: str) -> dict[str, float]:
    hops = {}
    for part in server_timing.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name.startswith("hop-") and duration:
            hops[name.removeprefix("hop-")] = float(duration)
    return hops


def measure_hops(
    base_url: str,
    headers: dict[str, str],
    verify: str | bool = True,
    requests: int = 300,
    warmup: int = 30,
    path: str = PREDICT,
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in (*HOPS, RESPONSE_PATH, ROUND_TRIP)}
    body = {"texts": ["a quietly moving film with two superb performances"]}
    with httpx.Client(base_url=base_url, verify=verify, timeout=10) as client:
        for index in range(warmup + requests):
            sent, started = time.time_ns(), time.perf_counter()
            answer = client.post(path, json=body, headers={**headers, SENT_AT_HEADER: str(sent)})
            total_ms = (time.perf_counter() - started) * 1000
            answer.raise_for_status()
            hops = parse_hops(answer.headers.get(SERVER_TIMING_HEADER, ""))
            if index < warmup or set(hops) != set(HOPS):
                continue
            for name, ms in hops.items():
                samples[name].append(ms)
            samples[RESPONSE_PATH].append(max(0.0, total_ms - sum(hops.values())))
            samples[ROUND_TRIP].append(total_ms)
    if not samples[ROUND_TRIP]:
        raise RuntimeError("the serve zone did not report its hops (is it older than this client?)")
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}
