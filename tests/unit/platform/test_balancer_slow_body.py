"""Attack test for the front balancer's body deadline: a real HAProxy with the balancer's own
config, a client trickling its body one byte at a time (slowloris)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from bulkhead.platform import balancer, haproxy_wrapper, services
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.settings import PlatformSettings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_trickled_body_gets_a_json_408_from_the_balancer(tmp_path: Path) -> None:
    settings = PlatformSettings(home=tmp_path, serve_http_port=_free_port()).with_serve_nodes(2)
    settings = settings.model_copy(
        update={"serve": settings.serve.model_copy(update={"request_timeout_s": 2})}
    )
    paths = StatePaths.at(tmp_path)
    where = balancer.folder(paths)
    where.mkdir(parents=True, exist_ok=True)
    services.write_request_timeout_errorfile(settings.serve, paths, None)
    cfg = tmp_path / "balancer.cfg"
    cfg.write_text(balancer.config(settings, paths))
    proxy = subprocess.Popen(
        [haproxy_wrapper.haproxy_binary(), "-db", "-f", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        address = (settings.serve_host, settings.serve_http_port)
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = socket.create_connection(address, timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the balancer did not listen"
                time.sleep(0.1)
        with conn:
            started = time.monotonic()
            conn.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            conn.settimeout(0.5)
            answer = b""
            for _ in range(20):  # one byte every 0.5 s: far slower than the deadline allows
                try:
                    conn.sendall(b"{")
                    answer += conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if answer:
                    break
            elapsed = time.monotonic() - started
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(body) == {"detail": "request not received whole within 2 s"}
    assert 1.5 < elapsed < 5
