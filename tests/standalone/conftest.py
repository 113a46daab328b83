"""Suites that need no shared platform: those that start one of their own (`up --isolate
--tls`, `up --serve-nodes 2`) and the benchmark peers' check, which needs none.

They run in a pytest session of their own (`make test`'s second tier), before the session
platform of tests/integration and tests/security starts, one module at a time: never two
platforms at once on two cores. Using the shared ``platform`` fixture here is refused.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def platform() -> None:
    pytest.fail("tests/standalone never starts the shared platform")
