"""Hostile requests: every malformed input must get a 4xx, and a valid request must still work."""

from __future__ import annotations

import httpx

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult, scenario_result
from loadtests.closed_loop import LoadCounts


def hostile_input(ctx: ChaosContext) -> ScenarioResult:
    from loadtests.hostile import corpus

    worst: list[str] = []
    statuses: list[int] = []
    after_ok = 0
    cases = corpus()
    with ctx.client(timeout_s=20) as client:
        for case in cases:
            try:
                response = client.request(
                    case.method,
                    case.path,
                    authenticated=case.auth,
                    content=case.body,
                    headers=case.headers,
                )
                statuses.append(response.status_code)
                if response.status_code >= 500 or response.status_code < 400:
                    worst.append(f"{case.name}: {response.status_code}")
            except httpx.HTTPError as err:
                statuses.append(0)
                worst.append(f"{case.name}: {type(err).__name__}")
            after_ok += ctx.predict_ok()
    counts = LoadCounts(
        requests=len(statuses),
        ok=0,
        http_errors=sum(1 for s in statuses if s >= 400),
        connection_errors=sum(1 for s in statuses if s == 0),
        status_codes={str(s): statuses.count(s) for s in sorted(set(statuses))},
        versions={},
        longest_gap_s=0,
        p99_ok_ms=None,
        rejected_with_retry_after=0,
    )
    passed = not worst and after_ok == len(cases)
    result = scenario_result(
        "hostile input",
        f"{len(cases)} malformed requests",
        "every one a 4xx (never ≥ 500, never accepted); a valid request succeeds after each",
        counts,
        None,
        passed,
        "; ".join(worst) or f"all 4xx; valid request after each: {after_ok}/{len(cases)}",
    )
    # For this scenario "failed" means a wrong answer, not a 4xx (4xx is the right answer).
    result.failed = len(worst)
    result.failed_pct = round(100 * len(worst) / max(len(cases), 1), 3)
    return result
