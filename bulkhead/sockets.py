"""Every socket the platform's processes listen on, and whether the design allows it.

The design binds nothing beyond each zone's own address: loopback on one machine, the zone's
namespace address under ``up --isolate``. Ray and HAProxy pick some ports at run time (a
replica's gRPC server, worker ports), so the audit looks at the processes, not at a list of
configured ports: every member of every session ``up`` started, proven ours by its marker.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field

from bulkhead.procs import ProcessRecord, proven_members
from bulkhead.settings import Zone
from bulkhead.state import PlatformState


class ListeningSocket(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(description="registry, a zone, or the TLS terminator.")
    process: str
    pid: int
    address: str
    port: int
    allowed: bool
    why: str


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def services(state: PlatformState) -> dict[str, tuple[ProcessRecord, str | None]]:
    """Each service's process record and the one non-loopback address it may bind."""
    found: dict[str, tuple[ProcessRecord, str | None]] = {}
    layout = state.isolation
    if state.registry is not None:
        found["registry"] = (state.registry.process, layout.registry_address if layout else None)
    for zone, zone_state in state.zones.items():
        address = zone_state.gcs_address.rsplit(":", 1)[0]
        found[f"{zone.value} zone"] = (
            zone_state.process,
            None if _is_loopback(address) else address,
        )
    serve = state.zones.get(Zone.SERVE)
    if state.tls_terminator is not None and serve is not None:
        own = serve.gcs_address.rsplit(":", 1)[0]
        found["TLS terminator"] = (state.tls_terminator, None if _is_loopback(own) else own)
    return found


def audit(state: PlatformState) -> list[ListeningSocket]:
    """Every listening TCP socket of every process the platform started."""
    rows: list[ListeningSocket] = []
    isolated = state.isolation is not None
    for service, (record, own_address) in services(state).items():
        for proc in proven_members(record):
            try:
                name = proc.name()
                connections = proc.net_connections(kind="inet")
            except psutil.Error:
                continue
            for conn in connections:
                if conn.status != psutil.CONN_LISTEN or not conn.laddr:
                    continue
                address, port = conn.laddr.ip, conn.laddr.port
                if _is_loopback(address):
                    allowed, why = True, "loopback"
                elif own_address is not None and address == own_address:
                    allowed, why = True, "the service's own namespace address"
                elif (
                    isolated and service == "serve zone" and address in ("0.0.0.0", "::")
                ):  # bind-ok
                    # The ingress binds every interface of the serve namespace (Serve's
                    # HAProxy reaches replicas on loopback); nftables admits the host only.
                    allowed, why = True, "inside the serve namespace, host link only"
                else:
                    allowed, why = False, "beyond the service's own address"
                rows.append(
                    ListeningSocket(
                        service=service,
                        process=name,
                        pid=proc.pid,
                        address=address,
                        port=port,
                        allowed=allowed,
                        why=why,
                    )
                )
    return sorted(rows, key=lambda r: (r.service, r.port))


class SecretFinding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    mode: str
    owner_uid: int
    ok: bool


def audit_secrets(folder: Path) -> list[SecretFinding]:
    """The secrets folder must be 0700 and every file in it readable by its owner only."""
    findings = []
    for path in [folder, *sorted(p for p in folder.rglob("*"))]:
        info = path.stat()
        mode = info.st_mode & 0o777
        ok = mode == 0o700 if path.is_dir() else mode & 0o077 == 0
        findings.append(SecretFinding(path=str(path), mode=oct(mode), owner_uid=info.st_uid, ok=ok))
    return findings
