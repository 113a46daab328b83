"""Two patches of Ray Serve 2.60's replica, applied from a deployment's constructor: the
replica's gRPC server kept off every interface, and its ingress health gated on a model.

Keep the replica's own gRPC server off every interface (a Ray 2.60 workaround).

Ray Serve 2.60 starts each replica's inter-deployment gRPC server on ``[::]:0`` (hard-coded
in ``ray/serve/_private/replica.py``): a random port on every interface of the node. The
server checks the zone's Ray token, but the design binds nothing beyond the zone's own
address. The replica constructs the user's class before it starts that server, so the
deployment's constructor can rebind it to the node's address. If a Ray upgrade moves the
call, this does nothing and ``bulkhead check-isolation`` reports the socket again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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


# What this replica's ingress health check asks besides Serve's own verdict (one replica per
# process, so one answer per process).
_serving_a_model: Callable[[], bool] = lambda: True  # noqa: E731
NO_MODEL_MESSAGE = "NO VERIFIED MODEL"


def gate_ingress_health_on_model(has_model: Callable[[], bool]) -> bool:
    """Keep this replica out of the ingress's rotation while it holds no verified model.

    Serve's HAProxy health-checks every replica at ``/-/healthz``, which the replica answers
    itself from Serve's own view (initialised, not draining); a replica that started while the
    registry was unreachable is healthy to Serve and would get traffic it can only refuse
    (503). With this, its ``/-/healthz`` answers 503 until ``has_model()``: HAProxy marks it
    down and sends to the replicas that have one, and puts it back when it has one. Serve's
    controller health check (``check_health``) is untouched, so Serve does not restart it.
    Returns whether the gate is in place (a Ray upgrade that moves the method disables it, and
    the integration test of the gate fails).
    """
    global _serving_a_model
    try:
        from ray.serve._private import replica
    except ImportError:
        return False
    owner = next(
        (
            cls
            for cls in vars(replica).values()
            if isinstance(cls, type) and "_dataplane_health_check" in vars(cls)
        ),
        None,
    )
    if owner is None:
        log.warning("Ray no longer has _dataplane_health_check; replica health not gated")
        return False
    _serving_a_model = has_model
    original = vars(owner)["_dataplane_health_check"]
    if getattr(original, "_bulkhead_gated", False):
        return True

    async def gated(self: Any) -> tuple[bool, str]:
        healthy, message = await original(self)
        if healthy and not _serving_a_model():
            return False, NO_MODEL_MESSAGE
        return healthy, message

    gated._bulkhead_gated = True  # type: ignore[attr-defined]
    setattr(owner, "_dataplane_health_check", gated)  # noqa: B010
    return True
