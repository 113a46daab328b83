"""The isolation matrix: from every namespace, a TCP connect to every zone's GCS, dashboard and
HTTP ports and to the registry, compared with what the design allows."""

from __future__ import annotations

import json
import subprocess
import sys

from pydantic import BaseModel, ConfigDict

from bulkhead.platform.isolation import ZONE_NODES, IsolationLayout, Node
from bulkhead.platform.settings import PlatformSettings, Zone
from bulkhead.security.probe import OPEN, REFUSED

ZONES = frozenset(ZONE_NODES.values())


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node: Node
    service: str
    address: str
    port: int


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Node
    target: Target
    outcome: str
    allowed: bool

    @property
    def reached(self) -> bool:
        """A refused connection still proves a route: only "no route"/timeout count as cut."""
        return self.outcome in (OPEN, REFUSED)

    @property
    def ok(self) -> bool:
        """Allowed paths must be routed (refused = routed, nothing listening, e.g. Serve's
        HTTP before the first deploy); forbidden ones must not be."""
        return self.reached if self.allowed else not self.reached


class Matrix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probes: list[Probe]

    @property
    def violations(self) -> list[Probe]:
        return [probe for probe in self.probes if not probe.ok]

    @property
    def holds(self) -> bool:
        return not self.violations


def allowed(source: Node, target: Node) -> bool:
    """The design: operators reach everything, zones reach the registry, nothing else."""
    return source is target or source is Node.HOST or (target is Node.REGISTRY and source in ZONES)


def targets(settings: PlatformSettings) -> list[Target]:
    """``settings`` as applied by the layout, so every address is a namespace's."""
    found = [
        Target(
            node=Node.REGISTRY,
            service="registry http",
            address=settings.registry_address,
            port=settings.registry_port,
        )
    ]
    for zone in Zone:
        node = ZONE_NODES[zone]
        host = settings.zone_host(zone)
        ports = settings.zone(zone).ports
        found.append(Target(node=node, service="gcs", address=host, port=ports.gcs))
        found.append(Target(node=node, service="dashboard", address=host, port=ports.dashboard))
        if zone is Zone.SERVE:
            found.append(
                Target(node=node, service="serve http", address=host, port=settings.serve_http_port)
            )
    return found


def probe_from(
    layout: IsolationLayout, source: Node, wanted: list[Target], timeout_s: float = 1.0
) -> list[str]:
    payload = json.dumps([{"address": t.address, "port": t.port} for t in wanted])
    command = [
        *layout.exec_prefix(source),
        sys.executable,
        "-m",
        "bulkhead.security.probe",
        payload,
    ]
    result = subprocess.run(
        [*command, str(timeout_s)],
        capture_output=True,
        text=True,
        timeout=30 + timeout_s * len(wanted),
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"probe from {source} failed: {result.stderr.strip()[-300:]}")
    outcomes: list[str] = json.loads(result.stdout)
    return outcomes


def registry_link_targets(layout: IsolationLayout, wanted: list[Target]) -> list[Target]:
    """The same zone services at each zone's end of its registry link: the registry has a
    route there (for its replies), so only the zone's input filter keeps it out."""
    return [
        target.model_copy(
            update={
                "service": f"{target.service} (registry link)",
                "address": layout.registry_link_address(target.node),
            }
        )
        for target in wanted
        if target.node in ZONES
    ]


def check(layout: IsolationLayout, settings: PlatformSettings) -> Matrix:
    wanted = targets(settings)
    probes = []
    for source in Node:
        from_here = wanted + (
            registry_link_targets(layout, wanted) if source is Node.REGISTRY else []
        )
        outcomes = probe_from(layout, source, from_here)
        for target, outcome in zip(from_here, outcomes, strict=True):
            probes.append(
                Probe(
                    source=source,
                    target=target,
                    outcome=outcome,
                    allowed=allowed(source, target.node),
                )
            )
    return Matrix(probes=probes)
