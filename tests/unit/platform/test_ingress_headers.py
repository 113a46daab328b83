"""What the ingresses pass on: a real HAProxy with the front balancer's own config and a
backend that records what reaches it; and the node ingress's rewrite of Ray's template."""

from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bulkhead.platform import balancer, haproxy_wrapper, services
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.settings import PlatformSettings

DROPPED = {"x-request-timeout-seconds": "0", "x-request-disconnect-disabled": "?1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Backend(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.seen: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Backend

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        if self.command == "POST":
            self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
            time.sleep(self.server.delay_s)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def front(tmp_path: Path) -> Iterator[tuple[int, list[_Backend]]]:
    """The balancer's config over two recording backends, with a 1-s server timeout."""
    settings = PlatformSettings(home=tmp_path, serve_http_port=_free_port()).with_serve_nodes(2)
    paths = StatePaths.at(tmp_path)
    where = balancer.folder(paths)
    where.mkdir(parents=True, exist_ok=True)
    services.write_request_timeout_errorfile(settings.serve, paths, None)
    backends = [_Backend(delay_s=2.0) for _ in range(2)]
    for backend in backends:
        threading.Thread(target=backend.serve_forever, daemon=True).start()
    text = balancer.config(settings, paths).replace("timeout server 60s", "timeout server 1s")
    for node, backend in enumerate(backends):
        text = text.replace(
            balancer.node_address(settings, node), f"127.0.0.1:{backend.server_address[1]}"
        )
    cfg = tmp_path / "balancer.cfg"
    cfg.write_text(text)
    proxy = subprocess.Popen(
        [haproxy_wrapper.haproxy_binary(), "-db", "-f", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # listening, and both backends checked up
            try:
                conn = http.client.HTTPConnection(settings.serve_host, settings.serve_http_port)
                conn.request("GET", "/v2/health/ready")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the balancer did not come up"
            time.sleep(0.2)
        time.sleep(1.5)  # the health checks' rise (2 checks) on both nodes
        yield settings.serve_http_port, backends
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        for backend in backends:
            backend.shutdown()
            backend.server_close()


def test_a_slow_request_is_sent_to_one_node_once_and_client_deadline_headers_are_dropped(
    front: tuple[int, list[_Backend]],
) -> None:
    """Found by review: the balancer retried on `response-timeout`, so one slow request ran on
    three nodes; and Ray Serve honours client-sent headers that switch the replica's request
    deadline off. The request reaches one backend once, without those headers."""
    port, backends = front
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    conn.request("POST", "/v1/predict", body=b"{}", headers={**DROPPED, "x-kept": "1"})
    status = conn.getresponse().status
    time.sleep(2.5)  # a retry, if any, would have reached a backend by now
    seen = [headers for backend in backends for headers in backend.seen]
    assert status == 504
    assert len(seen) == 1, f"the request ran {len(seen)} times"
    assert seen[0]["x-kept"] == "1"
    assert not set(DROPPED) & set(seen[0])


def test_every_node_ingress_owns_the_deadline_headers(tmp_path: Path) -> None:
    """The wrapper Serve runs as its HAProxy drops the client's copies of the deadline
    headers in Ray's frontend and hands the replica its own deadline (one second past
    HAProxy's, so no work outlives the answer), answers its own deadline with a JSON 504
    instead of Ray's plain 500, and sends no per-request log datagram; once, in a config
    HAProxy accepts."""
    from tests.utils.haproxy import config_after_wrapper

    paths = StatePaths.at(tmp_path)
    settings = PlatformSettings().serve
    script = services.haproxy_loopback_wrapper(settings, paths)
    ray_template = (
        "global\n    log 127.0.0.1:514 local0 info\n"
        "defaults\n    mode http\n    option abortonclose\n    timeout server 30s\n"
        "    errorfile 504 /nonexistent/500.http\n"
        "frontend http_frontend\n    bind 127.0.0.1:18998\n    default_backend b\n"
        "backend b\n    log global\n    server s 127.0.0.1:1\n"
    )
    once = config_after_wrapper(script, ray_template, tmp_path)
    lines = [line.strip() for line in once.splitlines()]
    start = lines.index("frontend http_frontend") + 1
    assert lines[start : start + 3] == [
        *(f"http-request del-header {name}" for name in DROPPED),
        f"http-request set-header x-request-timeout-seconds {settings.answer_timeout_s + 1}",
    ]
    assert not any("x-request-disconnect-disabled ?1" in line for line in lines)
    answer = paths.serve_etc / haproxy_wrapper.ANSWER_TIMEOUT_ERRORFILE
    assert f"errorfile 504 {answer}" in lines
    assert not any(line.startswith("log 127.0.0.1") for line in lines)
    assert config_after_wrapper(script, once, tmp_path) == once
    paths.haproxy_dir.mkdir(parents=True, exist_ok=True)
    services.write_request_timeout_errorfile(settings, paths, None)
    assert b'"detail"' in answer.read_bytes() and answer.read_bytes().startswith(b"HTTP/1.1 504")
    cfg = tmp_path / "checked.cfg"
    cfg.write_text(once)
    checked = subprocess.run(
        [haproxy_wrapper.haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
