"""The floor under every stack: an HTTP server that reads the request and answers a fixed
prediction, with no model, no framework and no checks (a bare ASGI app on uvicorn, the
server most Python stacks run on). Its figures, directly and behind one HAProxy, are what the
client, the kernel and the HTTP plumbing cost before any stack does anything.

    python -m loadtests.bench.null_server --port 8602
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

ANSWER = json.dumps(
    {"predictions": [{"label": "fresh", "score": 0.5, "scores": {"fresh": 0.5, "rotten": 0.5}}]}
).encode()
HEALTH = b'{"status":"ok"}'

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # the whole body is read, as a server that parses it would
        message = await receive()
        more = bool(message.get("more_body"))
    body = HEALTH if scope["method"] == "GET" else ANSWER
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def haproxy_config(listen_port: int, server_port: int) -> str:
    """One HAProxy thread in front of the null server, keep-alive both ways (as the serve
    zone's ingress runs)."""
    return (
        "global\n  nbthread 1\n  maxconn 1024\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n"
        "  timeout server 30s\n  timeout http-keep-alive 5s\n  option http-buffer-request\n"
        f"frontend f\n  bind 127.0.0.1:{listen_port}\n  default_backend b\n"
        f"backend b\n  http-reuse always\n  server s 127.0.0.1:{server_port}\n"
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
