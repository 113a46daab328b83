"""Where one request's time goes inside the serve zone, for the clients that ask.

A request carrying ``x-bulkhead-sent-ns`` (the client's wall clock) gets ``hop-*`` entries in
its ``server-timing`` header: the time from the client to the replica's ASGI app (Serve's
proxy, routing and replica wrapper), then each step inside the replica (contracts.serve_api.HOPS).
The client subtracts their sum from its own round trip to get the response path. The
middleware (serving/http/hops.py) starts a ``Hops`` per such request; the route wrapper and the
inference pool add their marks to it through ``current()``.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from contracts.serve_api import HOPS

# Nanoseconds since the epoch fit in 19 digits until the year 2286 (and in a signed 64-bit int).
MAX_SENT_DIGITS = 19


def parse_sent_ns(raw: bytes | str) -> int | None:
    """The client's send time from its header, or None to skip hop timing for the request.

    Only ASCII digits, at most ``MAX_SENT_DIGITS`` of them: the header is the client's, and a
    longer number overflows the float the ingress hop is computed in (and past 4300 digits
    ``int`` itself refuses), which turned a timing nicety into a 500 on every route.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if not text or len(text) > MAX_SENT_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


@dataclass
class Hops:
    sent_ns: int
    arrived_ns: int = field(default_factory=time.time_ns)
    arrived: float = field(default_factory=time.perf_counter)
    handler_started: float | None = None
    handler_ended: float | None = None
    spans: dict[str, float] = field(default_factory=dict)

    def header(self, now: float) -> str:
        ms = dict(self.spans)
        ms["ingress"] = max(0.0, (self.arrived_ns - self.sent_ns) / 1e6)
        if self.handler_started is not None and self.handler_ended is not None:
            ms["replica-http"] = (self.handler_started - self.arrived) * 1000
            inner = sum(self.spans.get(k, 0.0) for k in HOPS if k in self.spans)
            handler_ms = (self.handler_ended - self.handler_started) * 1000
            ms["handler"] = max(0.0, handler_ms - inner)
            ms["serialize"] = (now - self.handler_ended) * 1000
        return ", ".join(f"hop-{k};dur={ms[k]:.3f}" for k in HOPS if k in ms)


CURRENT: ContextVar[Hops | None] = ContextVar("bulkhead_hops", default=None)


def current() -> Hops | None:
    return CURRENT.get()
