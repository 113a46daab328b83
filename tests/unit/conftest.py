"""Unit tests never start Ray: any attempt is a bug in the test or the code under test."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import env
from tests.utils.fake_registry import trust_ring


@pytest.fixture(autouse=True)
def _serve_zone_key_ring(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The serve zone's key ring, trusting the fake registry's signer, as the platform hands
    one to every replica."""
    ring = trust_ring(tmp_path_factory.mktemp("ring") / "trusted-keys.json")
    monkeypatch.setenv(env.SERVE_TRUSTED_KEYS_FILE, str(ring))
    return ring


@pytest.fixture(autouse=True)
def _forbid_ray_init(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import ray
    except ImportError:  # the zone under test may be installed without Ray
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unit tests must not start or connect to Ray (ray.init called)")

    monkeypatch.setattr(ray, "init", refuse)
