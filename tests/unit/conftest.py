"""Unit tests never start Ray: any attempt is a bug in the test or the code under test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _forbid_ray_init(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import ray
    except ImportError:  # the zone under test may be installed without Ray
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unit tests must not start or connect to Ray (ray.init called)")

    monkeypatch.setattr(ray, "init", refuse)
