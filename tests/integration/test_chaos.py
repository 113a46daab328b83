"""Faults injected for real into the integration platform under load; every request counted.

Each scenario runs through `bulkhead chaos --scenario NAME --quick --json`, the command users
run, and prints the counts it asserts. `--quick` shortens only what buys steadier figures: the
steady windows around each fault, the outage, the rollout phases (their sample minimums stay).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.utils.platform import Served, TestPlatform

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(platform: TestPlatform, scenario: str) -> dict[str, Any]:
    done = platform.cli("chaos", "--scenario", scenario, "--quick", "--json", timeout=400)
    results = json.loads(done.stdout) if done.stdout.strip() else []
    assert results, done.stderr[-3000:]
    result: dict[str, Any] = results[0]
    print(
        f"\n{scenario}: {result['requests']} requests, {result['failed']} failed "
        f"({result['http_errors']} HTTP, {result['connection_errors']} connection), "
        f"recovery {result['recovery_s']} s; {result['detail']}; "
        f"first failures: {result['counts'].get('first_failures')}"
    )
    return result


def test_hostile_requests_all_get_4xx_and_the_service_keeps_answering(
    platform: TestPlatform, served: Served
) -> None:
    result = _run(platform, "hostile-input")
    assert result["requests"] >= 25
    assert set(result["counts"]["status_codes"]) <= {"400", "401", "404", "405", "413", "422"}
    assert result["verdict"] == "pass", result


def test_overload_gets_fast_503s_with_retry_after_and_recovers(
    platform: TestPlatform, served: Served, snapshot: Path
) -> None:
    result = _run(platform, "overload")
    counts = result["counts"]
    assert counts["ok"] > 0 and counts["status_codes"].get("503", 0) > 0
    assert result["connection_errors"] == 0  # no timeouts, no resets
    assert set(counts["status_codes"]) == {"200", "503"}
    # Our admission limit answers with Retry-After. Against the tiny model (≈1,300 req/s) about
    # 1% of the 503s come from the ingress instead (no Retry-After): measured 98.9% and 98.9%
    # in two CI runs, ~100% against the default model.
    assert counts["rejected_with_retry_after"] >= 0.95 * counts["status_codes"]["503"]
    assert result["verdict"] == "pass", result


def test_registry_outage_fails_no_prediction_and_readiness_stays_green(
    platform: TestPlatform, served: Served, snapshot: Path
) -> None:
    result = _run(platform, "registry-outage")
    assert result["requests"] > 100
    assert result["failed"] == 0
    assert result["verdict"] == "pass", result
    assert platform.cli_json("status")["registry_state"] == "running"


def test_killed_replica_is_replaced_and_only_requests_in_flight_are_lost(
    platform: TestPlatform, served: Served, snapshot: Path
) -> None:
    """The issue's goal is <= 0.1% failed; measured here it is the requests in flight on the
    killed replica (4 closed-loop clients: at most 4), which over a 15 s window is ~0.3%."""
    result = _run(platform, "replica-crash")
    assert result["recovery_s"] is not None and result["recovery_s"] < 60
    assert result["http_errors"] == 0
    # The requests the replica held when it died (one per client), and at most one more per
    # client while HAProxy marks the dead replica down.
    assert result["failed"] <= 8
    assert result["counts"]["ok"] > 100


def test_rollout_under_load_fails_nothing_and_settles_within_10_s(
    platform: TestPlatform, served: Served, snapshot: Path, tmp_path: Path
) -> None:
    from tests.utils.bundles import prepared_version, signer_verdict

    candidate = prepared_version(platform, snapshot).version
    # The scenario rolls out the newest signed version: once the signer has passed this one.
    assert signer_verdict(platform, candidate).startswith("signed")
    result = _run(platform, "rollout")
    assert f"v{candidate}" in result["fault"]  # the newest approved version is rolled out
    assert result["failed"] == 0 and result["requests"] > 50
    assert result["recovery_s"] is not None and result["recovery_s"] <= 10
    assert candidate in result["counts"]["versions"]
    assert result["verdict"] == "pass", result


def test_bad_artifact_under_load_fails_nothing_and_is_refused(
    platform: TestPlatform, served: Served
) -> None:
    result = _run(platform, "bad-artifact")
    assert result["failed"] == 0 and result["requests"] > 50
    assert "not a loadable ONNX model" in result["detail"]
    assert len(result["counts"]["versions"]) == 1  # only the old champion ever answered
    assert result["verdict"] == "pass", result


def test_killed_ingress_is_restarted_by_serve_and_the_champion_is_served_again(
    platform: TestPlatform, served: Served
) -> None:
    """Runs last: it takes the ingress down. The goal (≤ 0.1 % failed) is not met with one
    HAProxy per node (docs/reliability.md); what must hold is that Serve brings it back by itself
    and the same champion answers afterwards."""
    before = platform.cli_json("status")["champion_version"]
    result = _run(platform, "ingress-crash")
    assert result["recovery_s"] is not None and result["recovery_s"] < 90
    assert result["counts"]["ok"] > 100
    # Bounded: the one-node figure is 58 % failed while HAProxy and the routes come back
    # (docs/reliability.md); an ingress that stayed down or kept failing after it came
    # back would fail far more of the scenario's requests.
    assert result["failed_pct"] <= 80, result
    status = platform.cli_json("status")
    assert status["champion_version"] == before
    assert status["serving"]["version"] == before


@pytest.mark.parametrize(
    ("scenario", "ends", "because"),
    [
        ("rollout-good", "completed", "last step"),
        ("rollout-slow", "aborted", "p99"),
        ("rollout-erroring", "aborted", "error rate"),
        ("rollout-disagreeing", "aborted", "agrees"),
    ],
)
def test_a_rollout_is_promoted_or_aborted_by_the_controller_with_no_failed_request(
    platform: TestPlatform, served: Served, snapshot: Path, scenario: str, ends: str, because: str
) -> None:
    result = _run(platform, scenario)
    assert result["failed"] == 0
    assert result["detail"].startswith(f"{ends}:") and because in result["detail"], result
    assert result["verdict"] == "pass", result
    status = platform.cli_json("rollout", "status")
    assert status["state"]["phase"] == ends
    decisions = [event["decision"] for event in status["events"]]
    assert decisions[0] == "start" and decisions[-1] == (
        "complete" if ends == "completed" else "abort"
    )
    # Every decision carries the figures it was taken on.
    assert all(e["candidate"] is not None for e in status["events"][1:])


def test_shadow_copies_do_not_slow_real_requests(
    platform: TestPlatform, served: Served, snapshot: Path
) -> None:
    """What must hold anywhere: copies run beside real traffic, copies are dropped rather than
    queued when the replica is busy, no real request fails or is refused, and the median real
    request does not wait for its copy. The p99 cost is a figure, printed (and judged in the
    `bulkhead chaos` table against its goal), not asserted: on this 2-core VM the load
    generator, proxy and replica share the cores, and the p99 of ~1,800 requests per mode moved
    from 12 ms to 19 ms between runs of the same code. One round of windows (`--quick`): the
    three of `make chaos` only steady that p99."""
    result = _run(platform, "shadow-cost")
    figures = result["figures"]
    print(
        f"shadow cost: p50 {figures['p50_ms_without']} -> {figures['p50_ms_with']} ms "
        f"({figures['p50_ms_with'] / figures['p50_ms_without']:.2f}x), p99 "
        f"{figures['p99_ms_without']} -> {figures['p99_ms_with']} ms "
        f"({figures['p99_ms_with'] / figures['p99_ms_without']:.2f}x); verdict {result['verdict']}"
    )
    assert result["failed"] == 0 and result["requests"] > 1000  # nothing refused for a copy
    assert figures["mirrored"] > 0  # copies ran ...
    assert figures["dropped"] > 0  # ... and were dropped, not queued, under this load
    assert len(result["counts"]["versions"]) == 1  # the candidate never answered a client
    # A copy made on the request's own path would double the median (the candidate is the
    # same model); p50 moved by under 10 % in every run measured. Loose enough for a loaded
    # machine, tight enough to catch a copy that the client waits for.
    assert figures["p50_ms_with"] <= 1.5 * figures["p50_ms_without"] + 1.0, figures
