"""Local network isolation: each zone and the registry in its own Linux network namespace.

``bulkhead up --isolate`` (Linux, root) builds this topology, one veth pair per line:

    host ─── registry          registry ─── ingest
    host ─── ingest            registry ─── train
    host ─── train             registry ─── serve
    host ─── serve

Every link is its own /30. The registry also owns a service address on its loopback, and each
namespace with a link to the registry has one host route to it; that is the only route a zone
has beyond its own links. So serve → registry and train → registry work, while serve has no
route at all to train or ingest (and the reverse): a connection fails with "network
unreachable" before a packet leaves. The host (the operator: CLI, clients, tests) reaches every
zone's address and the registry. New namespaces do not forward packets, so the registry cannot
be used as a router between zones either.

A route back is needed for the registry's replies, so each namespace also gets a stateful
nftables input filter: a zone accepts new connections only from its host link (never from the
registry link), the registry only on its own port. That matters because some sockets bind every
interface: Serve's HAProxy ingress sends to replicas on 127.0.0.1, so under isolation the
serve zone's HTTP options bind 0.0.0.0 (# bind-ok: inside its namespace).

This isolates the network only: the zones still share the file system (as the snapshot volume
is shared in production) and run as the same user. ``deploy/`` draws the same boundary with
NetworkPolicies and security groups.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bulkhead.platform.settings import PlatformSettings, Zone


class Node(StrEnum):
    """A place processes run in: the host namespace or one of the isolated ones."""

    HOST = "host"
    REGISTRY = "registry"
    INGEST = "ingest"
    TRAIN = "train"
    SERVE = "serve"

    @property
    def letter(self) -> str:
        return {"host": "h", "registry": "r", "ingest": "i", "train": "t", "serve": "s"}[self.value]


ZONE_NODES = {Zone.INGEST: Node.INGEST, Zone.TRAIN: Node.TRAIN, Zone.SERVE: Node.SERVE}

# Which lines exist; reachability follows from them and nothing else.
LINKS: tuple[tuple[Node, Node], ...] = (
    (Node.HOST, Node.REGISTRY),
    (Node.HOST, Node.INGEST),
    (Node.HOST, Node.TRAIN),
    (Node.HOST, Node.SERVE),
    (Node.REGISTRY, Node.INGEST),
    (Node.REGISTRY, Node.TRAIN),
    (Node.REGISTRY, Node.SERVE),
)


class IsolationError(RuntimeError):
    """Namespaces cannot be made here (not Linux, not root, no ``ip``) or a step failed."""


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    a: Node
    b: Node
    a_interface: str = Field(max_length=15)
    b_interface: str = Field(max_length=15)
    a_address: str
    b_address: str


class IsolationLayout(BaseModel):
    """Names and addresses of one platform's namespaces; saved in the platform state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespaces: dict[Node, str]
    links: tuple[Link, ...]
    registry_address: str = Field(description="The registry's service address (its loopback).")
    registry_port: int = Field(description="The one port the registry namespace accepts.")
    prefix_length: int = 30

    @classmethod
    def for_platform(
        cls, home: str, registry_port: int, subnet: str | None = None
    ) -> IsolationLayout:
        """A layout unique to the platform home, so two platforms never share names."""
        key = hashlib.sha256(home.encode()).hexdigest()
        tag = key[:4]
        network = ipaddress.ip_network(subnet or f"10.213.{int(key[4:8], 16) % 250}.0/24")
        if network.prefixlen > 26:
            raise IsolationError(f"isolation subnet {network} is too small (need a /26 or more)")
        hosts = list(network.hosts())
        links = []
        for index, (a, b) in enumerate(LINKS):
            first = network.network_address + 4 * index
            links.append(
                Link(
                    a=a,
                    b=b,
                    a_interface=f"bh{tag}{a.letter}{b.letter}",
                    b_interface=f"bh{tag}{b.letter}{a.letter}",
                    a_address=str(first + 1),
                    b_address=str(first + 2),
                )
            )
        return cls(
            namespaces={node: f"bh{tag}-{node.value}" for node in Node if node is not Node.HOST},
            links=tuple(links),
            registry_address=str(hosts[-1]),
            registry_port=registry_port,
        )

    # ------------------------------------------------------------ addresses

    def registry_link_address(self, node: Node) -> str:
        """``node``'s end of its link to the registry (only the registry has a route to it)."""
        for link in self.links:
            if link.a is Node.REGISTRY and link.b is node:
                return link.b_address
        raise KeyError(node)

    def address_of(self, node: Node) -> str:
        """Where the host reaches ``node``: its end of the host link (the registry: its
        service address)."""
        if node is Node.REGISTRY:
            return self.registry_address
        for link in self.links:
            if link.a is Node.HOST and link.b is node:
                return link.b_address
        raise KeyError(node)

    def apply(self, settings: PlatformSettings) -> PlatformSettings:
        """The settings with every service bound to its namespace's address."""
        zones = {
            zone.value: settings.zone(zone).model_copy(
                update={"host": self.address_of(ZONE_NODES[zone])}
            )
            for zone in Zone
        }
        return settings.model_copy(update={"registry_host": self.registry_address, **zones})

    def exec_prefix(self, node: Node) -> list[str]:
        """Run a command inside ``node``'s namespace (``ip netns exec`` keeps the PID)."""
        if node is Node.HOST:
            return []
        return ["ip", "netns", "exec", self.namespaces[node]]

    # ------------------------------------------------------------ lifecycle

    def exists(self) -> bool:
        listed = _run(["ip", "netns", "list"], check=False).stdout
        return any(
            line.split()[0] == name
            for name in self.namespaces.values()
            for line in listed.splitlines()
            if line.strip()
        )

    def create(self) -> None:
        require_namespaces()
        self.destroy()
        try:
            self._create()
        except IsolationError:
            self.destroy()
            raise

    def _create(self) -> None:
        for name in self.namespaces.values():
            _run(["ip", "netns", "add", name])
            _run(["ip", "-n", name, "link", "set", "lo", "up"])
            # A new namespace does not forward; say so explicitly, whatever the defaults.
            _run(["ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
        registry_ns = self.namespaces[Node.REGISTRY]
        _run(["ip", "-n", registry_ns, "addr", "add", f"{self.registry_address}/32", "dev", "lo"])
        for link in self.links:
            _run(
                [
                    "ip",
                    "link",
                    "add",
                    link.a_interface,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    link.b_interface,
                ]
            )
            for node, interface, address in (
                (link.a, link.a_interface, link.a_address),
                (link.b, link.b_interface, link.b_address),
            ):
                netns = self._ip_netns(node)
                if node is not Node.HOST:
                    _run(["ip", "link", "set", interface, "netns", self.namespaces[node]])
                _run([*netns, "addr", "add", f"{address}/{self.prefix_length}", "dev", interface])
                _run([*netns, "link", "set", interface, "up"])
            if link.b is Node.REGISTRY or link.a is Node.REGISTRY:
                # The one route beyond a namespace's own links: to the registry's address.
                other, gateway = (
                    (link.a, link.b_address)
                    if link.b is Node.REGISTRY
                    else (link.b, link.a_address)
                )
                _run(
                    [
                        *self._ip_netns(other),
                        "route",
                        "add",
                        f"{self.registry_address}/32",
                        "via",
                        gateway,
                    ]
                )

        for node, name in self.namespaces.items():
            _run(["ip", "netns", "exec", name, "nft", "-f", "-"], stdin=self._filter(node))

    def _filter(self, node: Node) -> str:
        """The nftables input policy of one namespace (see the module docstring)."""
        if node is Node.REGISTRY:
            admit = f"tcp dport {self.registry_port} accept"
        else:
            host_link = next(lk for lk in self.links if lk.a is Node.HOST and lk.b is node)
            admit = f'iifname "{host_link.b_interface}" accept'
        return (
            "table inet bulkhead {\n"
            "  chain input {\n"
            "    type filter hook input priority 0; policy drop;\n"
            '    iifname "lo" accept\n'
            "    ct state established,related accept\n"
            f"    {admit}\n"
            "  }\n"
            "}\n"
        )

    def set_registry_link(self, node: Node, up: bool) -> None:
        """Cut or restore ``node``'s link to the registry (a network partition, for chaos).

        Taking a link down flushes the routes through it, so bringing it up re-adds the route
        to the registry's address.
        """
        link = next(lk for lk in self.links if lk.a is Node.REGISTRY and lk.b is node)
        netns = self._ip_netns(node)
        _run([*netns, "link", "set", link.b_interface, "up" if up else "down"])
        if up:
            _run([*netns, "route", "replace", f"{self.registry_address}/32", "via", link.a_address])

    def _ip_netns(self, node: Node) -> list[str]:
        return ["ip"] if node is Node.HOST else ["ip", "-n", self.namespaces[node]]

    def destroy(self) -> None:
        """Delete the namespaces (their veth ends go with them, and so do the host ends)."""
        if shutil.which("ip") is None:
            return
        for name in self.namespaces.values():
            _run(["ip", "netns", "del", name], check=False)
        for link in self.links:
            if link.a is Node.HOST:
                _run(["ip", "link", "del", link.a_interface], check=False)


def require_namespaces() -> None:
    """Raise with the reason when network namespaces cannot be made on this machine."""
    if not os.uname().sysname == "Linux":
        raise IsolationError("--isolate needs Linux network namespaces")
    if os.geteuid() != 0:
        raise IsolationError("--isolate needs root (it creates network namespaces)")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            raise IsolationError(f"--isolate needs the `{tool}` command ({package})")
    probe = f"bhprobe{os.getpid()}"
    created = _run(["ip", "netns", "add", probe], check=False)
    if created.returncode != 0:
        raise IsolationError(f"cannot create a network namespace here: {created.stderr.strip()}")
    _run(["ip", "netns", "del", probe], check=False)


def _run(
    cmd: Sequence[str], check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, input=stdin)
    if check and result.returncode != 0:
        raise IsolationError(f"`{' '.join(cmd)}` failed: {result.stderr.strip()}")
    return result
