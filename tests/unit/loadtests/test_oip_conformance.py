"""The OIP client runner hands each shipped client its key safely.

Covers: loadtests/oip_conformance.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from loadtests import oip_conformance
from loadtests.oip_conformance import OipClient, run_client

# Stands in for a client script: reports, as one check, the key it was given.
ECHO_KEY = """
import json, os, sys
key = os.environ.get("BULKHEAD_API_KEY", "")
print(json.dumps({"client": "echo", "model": "", "check": "key", "ok": True, "detail": key}))
print(json.dumps({"client": "echo", "model": "", "check": "argv", "ok": True,
                  "detail": " ".join(sys.argv[1:])}))
"""


def test_a_key_starting_with_a_dash_reaches_the_client_and_stays_out_of_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are random url-safe text, so one in 64 starts with '-' (CI failed on one: the
    client's argparse read it as an option). argv is also readable by every local user."""
    (tmp_path / "echo.py").write_text(ECHO_KEY)
    monkeypatch.setattr(oip_conformance, "SCRIPTS", tmp_path)
    monkeypatch.setattr(oip_conformance, "own_environment", lambda *_: sys.executable)
    client = OipClient(name="echo", script="echo.py", environment="none", packages=[])
    key = "-Zq3_secret-key"
    checks = run_client(tmp_path, client, "http://x", key, ["m"], ["t"], lambda _: None)
    by_check = {check.check: check for check in checks}
    assert by_check["key"].detail == key
    assert key not in by_check["argv"].detail
    assert all(check.ok for check in checks), checks
