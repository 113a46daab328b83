"""Schema-driven fuzzing of the serve ingress: Schemathesis generates requests from the app's
own OpenAPI document, valid (positive) and invalid (negative), with the API key, against the
real serve zone. No response may be a 5xx; invalid input gets a 4xx; the service keeps
answering afterwards."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from tests.utils.platform import Served

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES_PER_OPERATION_AND_MODE = 60


def _fuzz(
    operation: Any,
    mode: Any,
    served: Served,
    outcomes: Counter[tuple[str, str, int]],
    server_errors: list[str],
    accepted_invalid: list[str],
) -> None:
    """Hypothesis-driven cases for one operation in one generation mode, sent for real."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=served.url, headers=served.headers(), timeout=15)
        outcomes[(operation.label, mode.value, response.status_code)] += 1
        sent = f"{case.method} {case.formatted_path} body={str(case.body)[:120]!r}"
        if response.status_code >= 500:
            server_errors.append(f"{response.status_code} {sent}: {response.text[:200]}")
        if mode is GenerationMode.NEGATIVE and case.method == "POST" and response.status_code < 400:
            accepted_invalid.append(f"{response.status_code} {sent}")

    try:
        run()
    except Unsatisfiable:
        # Negative mode for an operation with nothing to get wrong (e.g. a GET without
        # parameters): there is no invalid request to make.
        assert mode is GenerationMode.NEGATIVE, operation.label
        outcomes[(operation.label, "negative: no invalid input exists", 0)] += 1


def test_schemathesis_finds_no_server_error(served: Served) -> None:
    import schemathesis
    from schemathesis.generation import GenerationMode

    spec = httpx.get(f"{served.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    outcomes: Counter[tuple[str, str, int]] = Counter()
    server_errors: list[str] = []
    accepted_invalid: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:
        for mode in GenerationMode:
            _fuzz(operation, mode, served, outcomes, server_errors, accepted_invalid)
    summary: Counter[tuple[str, str, str]] = Counter()
    for (label, mode, status), count in outcomes.items():
        summary[(label, mode, f"{status // 100}xx")] += count
    print(f"\nschemathesis: {sum(outcomes.values())} requests")
    for (label, mode, klass), count in sorted(summary.items()):
        print(f"  {label:40} {mode:9} {klass}: {count}")
    assert server_errors == [], server_errors[:10]
    assert accepted_invalid == [], accepted_invalid[:10]
    after = httpx.post(
        f"{served.url}/v1/predict", json={"texts": ["still answering?"]}, headers=served.headers()
    )
    assert after.status_code == 200
