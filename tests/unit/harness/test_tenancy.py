"""The pieces of the many-models scenarios that decide what is added and what is counted."""

from __future__ import annotations

from pathlib import Path

import yaml

from bulkhead.harness.chaos.tenancy import _application_for, _combined, _model_of
from loadtests.closed_loop import LoadCounts
from serving.config import ServeAppConfig

ROOT = Path(__file__).resolve().parents[3]


def _counts(ok: int, failed: int, versions: dict[str, int], gap: float) -> LoadCounts:
    return LoadCounts(
        requests=ok + failed,
        ok=ok,
        http_errors=failed,
        connection_errors=0,
        status_codes={"200": ok, **({"503": failed} if failed else {})},
        versions=versions,
        longest_gap_s=gap,
        p99_ok_ms=10.0 + gap,
        rejected_with_retry_after=failed,
    )


def test_a_new_models_application_is_a_served_ones_block_renamed() -> None:
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    template = config["applications"][-1]
    added = _application_for(template, "party")
    assert (added["name"], added["route_prefix"], _model_of(added)) == (
        "party",
        "/v1/models/party",
        "party",
    )
    assert _model_of(template) != "party", "the template itself is left as it was"
    for deployment in added["deployments"]:
        ServeAppConfig.model_validate(deployment["user_config"])
    assert (
        added["deployments"][0]["autoscaling_config"]
        == (template["deployments"][0]["autoscaling_config"])
    )


def test_combined_counts_add_up_and_keep_versions_apart_per_model() -> None:
    total = _combined(
        {"a": _counts(10, 1, {"1": 10}, 0.5), "b": _counts(5, 0, {"1": 3, "2": 2}, 1.5)}
    )
    assert (total.requests, total.ok, total.failed) == (16, 15, 1)
    assert total.status_codes == {"200": 15, "503": 1}
    assert total.versions == {"a:1": 10, "b:1": 3, "b:2": 2}
    assert (total.longest_gap_s, total.p99_ok_ms, total.rejected_with_retry_after) == (1.5, 11.5, 1)
