"""Unit tests never start Ray: any attempt is a bug in the test or the code under test."""

from __future__ import annotations

import glob
import shutil
from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def _leave_no_platform_tmp_folder() -> Iterator[None]:
    """Tests that lay out a platform in a temporary home also make its /tmp/bulkhead-<key>
    folder (HAProxy's and the serve zone's read-only files live there): removed after the
    test, so the unit tier leaves nothing in /tmp."""
    before = set(glob.glob("/tmp/bulkhead-*"))
    yield
    for folder in set(glob.glob("/tmp/bulkhead-*")) - before:
        shutil.rmtree(folder, ignore_errors=True)
