"""When a replica-kill scenario may start: never while the autoscaler may still remove the
replica it would kill, and without a 35 s wait when nothing can be removed."""

from __future__ import annotations

from pathlib import Path

import yaml

from bulkhead.harness.chaos.processes import wait_still
from bulkhead.render.serve_config import floor_of

ROOT = Path(__file__).resolve().parents[3]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_floor_is_the_model_deployments_min_replicas_or_fixed_count() -> None:
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    first = config["applications"][0]
    assert floor_of(config, first["name"]) == 1
    fixed = {
        "applications": [
            {"name": "m", "deployments": [{"name": "D", "user_config": {"model_name": "m"}}]},
            {
                "name": "n",
                "deployments": [
                    {"name": "Router"},  # no model: not the one that scales
                    {"name": "D", "num_replicas": 3, "user_config": {"model_name": "n"}},
                ],
            },
        ]
    }
    assert floor_of(fixed, "m") == 1
    assert floor_of(fixed, "n") == 3
    assert floor_of(fixed, "absent") is None


def test_at_the_floor_a_short_still_period_is_enough() -> None:
    time = FakeTime()
    count = wait_still(lambda: 1, 1, 35.0, 3.0, 100.0, time.clock, time.sleep)
    assert count == 1 and time.now == 3.0


def test_above_the_floor_it_waits_out_the_downscale_delay() -> None:
    time = FakeTime()
    counts = iter([2] * 10 + [1] * 200)  # the spike's extra replica goes after 10 s

    count = wait_still(lambda: next(counts), 1, 35.0, 3.0, 100.0, time.clock, time.sleep)
    assert count == 1
    assert 10.0 <= time.now <= 14.0  # at the floor from then: 3 s more


def test_a_count_that_never_settles_ends_at_the_timeout() -> None:
    time = FakeTime()
    flapping = iter([2, 3] * 100)
    wait_still(lambda: next(flapping), 1, 35.0, 3.0, 20.0, time.clock, time.sleep)
    assert time.now == 20.0


def test_without_a_known_floor_it_waits_the_full_period() -> None:
    time = FakeTime()
    wait_still(lambda: 1, None, 35.0, 3.0, 100.0, time.clock, time.sleep)
    assert time.now == 35.0
