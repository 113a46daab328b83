"""The HAProxy/replica deadline rule, checked where both are known: when `deploy` renders
serve_config.yaml against the platform's settings.

Covers: bulkhead/render/serve_config.py (check_deadlines), contracts/serve_limits.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bulkhead.platform.settings import PlatformSettings
from bulkhead.render.serve_config import ServeConfigError, check_deadlines
from contracts import serve_limits
from serving.config import LimitsConfig
from serving.http.middleware import Guards

ROOT = Path(__file__).resolve().parents[3]


def _config(body_timeout_s: float | None) -> dict[str, object]:
    limits = {} if body_timeout_s is None else {"limits": {"body_timeout_s": body_timeout_s}}
    return {
        "applications": [
            {"name": "sentiment", "deployments": [{"user_config": {"model_name": "s", **limits}}]}
        ]
    }


def test_a_body_deadline_longer_than_haproxys_is_refused_with_the_fix_named() -> None:
    with pytest.raises(ServeConfigError, match="BULKHEAD_SERVE__REQUEST_TIMEOUT_S"):
        check_deadlines(_config(30), request_timeout_s=10)
    check_deadlines(_config(30), request_timeout_s=30)
    check_deadlines(_config(None), request_timeout_s=serve_limits.REQUEST_TIMEOUT_S)


def test_the_shipped_serve_config_fits_the_default_settings() -> None:
    data = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    check_deadlines(data, PlatformSettings().serve.request_timeout_s)


def test_every_limit_default_comes_from_one_place() -> None:
    limits, guards = LimitsConfig(), Guards()
    assert (limits.max_body_bytes, guards.max_body_bytes) == (serve_limits.MAX_BODY_BYTES,) * 2
    assert (limits.body_timeout_s, guards.body_timeout_s) == (serve_limits.BODY_TIMEOUT_S,) * 2
    assert (limits.max_in_flight, guards.max_in_flight) == (serve_limits.MAX_IN_FLIGHT,) * 2
    assert PlatformSettings().serve.request_timeout_s == serve_limits.REQUEST_TIMEOUT_S
    assert serve_limits.REQUEST_TIMEOUT_S >= serve_limits.BODY_TIMEOUT_S
