"""The replica's ingress health check is gated on a verified model (serving/ray_binds.py),
patched into Ray Serve's own replica class, as a replica process does in its constructor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from serving import ray_binds


@pytest.fixture
def replica_class() -> Iterator[type]:
    from ray.serve._private import replica

    owner = next(
        cls
        for cls in vars(replica).values()
        if isinstance(cls, type) and "_dataplane_health_check" in vars(cls)
    )
    original = vars(owner)["_dataplane_health_check"]
    try:
        yield owner
    finally:
        setattr(owner, "_dataplane_health_check", original)  # noqa: B010
        ray_binds._serving_a_model = lambda: True


def _check(owner: type, **state: Any) -> tuple[bool, str]:
    replica = SimpleNamespace(**{"_shutting_down": False, "_healthy": True, **state})
    result: tuple[bool, str] = asyncio.run(owner._dataplane_health_check(replica))  # type: ignore[attr-defined]
    return result


def test_a_replica_without_a_model_fails_its_ingress_health_check(replica_class: type) -> None:
    model = {"loaded": False}
    assert _check(replica_class)[0] is True  # Serve's own verdict before the gate
    assert ray_binds.gate_ingress_health_on_model(lambda: model["loaded"]) is True
    assert _check(replica_class) == (False, ray_binds.NO_MODEL_MESSAGE)
    model["loaded"] = True
    assert _check(replica_class)[0] is True
    # Serve's own reasons still win: a draining replica is out, model or not.
    assert _check(replica_class, _shutting_down=True) == (False, "DRAINING")
    # Applied twice (a redeploy in the same process): still one gate, the latest answer.
    assert ray_binds.gate_ingress_health_on_model(lambda: False) is True
    assert _check(replica_class) == (False, ray_binds.NO_MODEL_MESSAGE)
