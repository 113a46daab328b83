"""The API key for the OIP client scripts (run from this folder, in their own environments):
it comes in the environment, not argv. argv is readable by every local user (`ps`), and a key
that starts with '-' would be read as an option."""

from __future__ import annotations

import os

# Where the runner (loadtests/oip_conformance.py) puts the key.
API_KEY_ENV = "BULKHEAD_API_KEY"


def api_key() -> str:
    key = os.environ.get(API_KEY_ENV, "")
    if not key:
        raise SystemExit(f"{API_KEY_ENV} is not set")
    return key
