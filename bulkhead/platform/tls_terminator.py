"""HTTPS for the serve zone without giving up the HAProxy ingress.

Ray 2.60's HAProxy ingress has no TLS, and Serve's own Python proxy (which has) costs about
5 ms per request at one client (measured: p50 4.2 ms through HAProxy, 9.4 ms through the Python
proxy, 10.3 ms with TLS on it). So under ``up --tls`` a second HAProxy, the same binary Ray
ships, terminates TLS on the serve address and passes the bytes (TCP mode, keep-alive intact)
to Serve's HAProxy ingress, which then listens on loopback only (the serve namespace's
loopback under ``--isolate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bulkhead.platform import tls
from bulkhead.platform.identity import Identity, Role
from bulkhead.platform.isolation import Node
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ProcessRecord
from bulkhead.platform.service import Context, Service
from bulkhead.platform.settings import PlatformSettings, Zone
from bulkhead.platform.state import TLS_TERMINATOR
from bulkhead.platform.zone_files import hand_to_zone

BACKEND_HOST = "127.0.0.1"


def used(settings: PlatformSettings) -> bool:
    return settings.tls and settings.serve.haproxy_ingress


def backend_port(settings: PlatformSettings) -> int:
    """Where Serve's own ingress listens (plain HTTP, loopback) behind the terminator."""
    return settings.serve.ingress_ports.tls_backend


def config(settings: PlatformSettings, pem: Path) -> str:
    host = settings.zone_host(Zone.SERVE)
    threads = max(1, int(settings.serve.num_cpus))
    return (
        "global\n"
        f"  nbthread {threads}\n"
        "  maxconn 4096\n"
        "  ssl-default-bind-options ssl-min-ver TLSv1.2\n"
        "defaults\n"
        "  mode tcp\n"
        "  timeout connect 5s\n"
        # Matches the ingress's client timeout: a silent client is dropped after 30 s.
        "  timeout client 30s\n"
        # Past the ingress's own answer deadline: its JSON 504 reaches the client, not ours.
        f"  timeout server {2 * settings.serve.answer_timeout_s}s\n"
        "frontend https\n"
        f"  bind {host}:{settings.serve_http_port} ssl crt {pem} alpn http/1.1\n"
        "  default_backend serve_ingress\n"
        "backend serve_ingress\n"
        f"  server ingress {BACKEND_HOST}:{backend_port(settings)}\n"
    )


def start(
    settings: PlatformSettings,
    paths: StatePaths,
    prefix: Sequence[str] = (),
    identity: Identity | None = None,
) -> ProcessRecord:
    """Runs as the serve zone's identity: the HTTPS key is the serve zone's own."""
    from bulkhead.platform.services import start_own_haproxy

    # Root's folder the serve zone reads (StatePaths.serve_etc): a link the zone planted in
    # its own folders cannot redirect these writes.
    folder, gid = paths.serve_etc, identity.gid if identity is not None else None
    cert = tls.files(paths).serve_https
    pem = folder / "tls-terminator.pem"
    # HAProxy wants certificate and key in one file: readable by the serve zone alone.
    hand_to_zone(pem, cert.cert.read_text() + cert.key.read_text(), gid)
    cfg = folder / "tls-terminator.cfg"
    hand_to_zone(cfg, config(settings, pem), gid)
    return start_own_haproxy(
        paths,
        cfg,
        run_dir=paths.haproxy_dir,
        log_name="serve-tls-terminator",
        listens_on=(settings.zone_host(Zone.SERVE), settings.serve_http_port),
        what="the serve zone's TLS terminator (HAProxy)",
        prefix=prefix,
        identity=identity,
    )


class TlsTerminatorService(Service):
    """HTTPS in front of the serve zone's plain HTTP under `up --tls`."""

    name = "TLS terminator"
    key = TLS_TERMINATOR

    def wanted(self, settings: PlatformSettings) -> bool:
        return used(settings)

    def title(self, ctx: Context) -> str:
        return f"HTTPS for the serve zone at {ctx.settings.serve_url} (TLS terminator)"

    def start(self, ctx: Context) -> None:
        record = start(ctx.settings, ctx.paths, ctx.prefix(Node.SERVE), ctx.identity(Role.SERVE))
        self.keep(ctx, record)
