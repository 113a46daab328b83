"""What check-isolation audits: every listening socket of the platform's processes, and who
can read every secret.

The design binds nothing beyond each zone's own address: loopback on one machine, the zone's
namespace address under ``up --isolate``. Ray and HAProxy pick some ports at run time (a
replica's gRPC server, worker ports), so the audit looks at the processes, not at a list of
configured ports: every member of every session ``up`` started, proven ours by its marker.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field

from bulkhead.platform.identity import Identities, Identity, Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ProcessRecord, proven_members
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import TLS_TERMINATOR, PlatformState

# What a socket bound to every interface reports as its address.
_ALL_INTERFACES = ("0.0.0.0", "::")  # bind-ok: recognised here, never bound


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
    terminator = state.process(TLS_TERMINATOR)
    if terminator is not None and serve is not None:
        own = serve.gcs_address.rsplit(":", 1)[0]
        found["TLS terminator"] = (terminator, None if _is_loopback(own) else own)
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
                elif isolated and service == "serve zone" and address in _ALL_INTERFACES:  # bind-ok
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
    owner: str
    belongs_to: str = Field(description="operator, or the service whose folder holds it.")
    readable_by: list[str] = Field(description="Service identities that can read it.")
    ok: bool


def _can(identity: Identity, info: os.stat_result, want: int) -> bool:
    """Whether ``identity`` has permission ``want`` (4 read, 1 search) on a file."""
    if info.st_uid == identity.uid:
        bits = (info.st_mode >> 6) & 7
    elif info.st_gid == identity.gid or info.st_gid in identity.groups:
        bits = (info.st_mode >> 3) & 7
    else:
        bits = info.st_mode & 7
    return bool(bits & want)


def readable_by(path: Path, identity: Identity) -> bool:
    """Unix permission check as ``identity``: every folder above passable, the file readable."""
    try:
        for parent in reversed(path.parents):
            if not _can(identity, parent.stat(), 1):
                return False
        return _can(identity, path.stat(), 4)
    except OSError:
        return False


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def audit_secrets(paths: StatePaths, identities: Identities | None) -> list[SecretFinding]:
    """Every secret: the operator's folder (no service may read it) and each service's own
    (only that service may). Modes: folders 0700, files owner-only."""
    folders: list[tuple[Path, Role | None]] = [(paths.secrets, None)]
    folders += [(paths.service_secrets(role), role) for role in Role]
    findings = []
    for folder, role in folders:
        if not folder.exists():
            continue
        for path in [folder, *sorted(folder.rglob("*"))]:
            info = path.stat()
            mode = info.st_mode & 0o777
            modes_ok = mode == 0o700 if path.is_dir() else mode & 0o077 == 0
            readers = []
            if identities is not None:
                readers = [
                    r.value for r, ident in identities.roles.items() if readable_by(path, ident)
                ]
            allowed = {role.value} if role is not None else set()
            findings.append(
                SecretFinding(
                    path=str(path),
                    mode=oct(mode),
                    owner=_owner_name(info.st_uid),
                    belongs_to=role.value if role is not None else "operator",
                    readable_by=readers,
                    ok=modes_ok and set(readers) <= allowed,
                )
            )
    return findings
