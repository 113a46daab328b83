"""Keep the replica's own gRPC server off every interface (a Ray 2.60 workaround).

Ray Serve 2.60 starts each replica's inter-deployment gRPC server on ``[::]:0`` (hard-coded
in ``ray/serve/_private/replica.py``): a random port on every interface of the node. The
server checks the zone's Ray token, but the design binds nothing beyond the zone's own
address. The replica constructs the user's class before it starts that server, so the
deployment's constructor can rebind it to the node's address. If a Ray upgrade moves the
call, this does nothing and ``bulkhead check-isolation`` reports the socket again.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("ray.serve")
_ALL_INTERFACES = ("[::]:", "0.0.0.0:")  # bind-ok: what gets rewritten


def bind_replica_grpc_to_node_address() -> bool:
    """Returns whether the rebinding is in place."""
    try:
        import ray
        from ray.serve._private import replica
    except ImportError:
        return False
    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None:
        log.warning("Ray no longer has replica.add_port_to_grpc_server; gRPC bind unchanged")
        return False
    if getattr(original, "_bulkhead_rebound", False):
        return True
    node_ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]

    def node_address_only(server: Any, address: str) -> Any:
        if address.startswith(_ALL_INTERFACES):
            address = f"{node_ip}:{address.rsplit(':', 1)[1]}"
        return original(server, address)

    node_address_only._bulkhead_rebound = True  # type: ignore[attr-defined]
    setattr(replica, "add_port_to_grpc_server", node_address_only)  # noqa: B010
    return True
