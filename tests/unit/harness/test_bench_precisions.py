"""Covers: bulkhead/harness/bench.py (which precisions a champion bundle lets the bench run).

A champion without an int8 copy (the trainer dropped it for losing accuracy) once made
`make bench` wait 120 s for a switch that could never happen and exit with no report."""

from __future__ import annotations

from pathlib import Path

from bulkhead.harness.bench import PRECISIONS, bundle_precisions
from tests.utils.bundles import make_bundle


def test_a_bundle_without_int8_is_benched_at_fp32_and_says_why(tmp_path: Path) -> None:
    precisions, why = bundle_precisions(make_bundle(tmp_path / "b", with_int8=False))
    assert precisions == ("fp32",)
    assert "no int8 copy" in why and "int8_max_accuracy_drop" in why


def test_a_bundle_with_int8_is_benched_at_both(tmp_path: Path) -> None:
    precisions, why = bundle_precisions(make_bundle(tmp_path / "b", with_int8=True))
    assert precisions == PRECISIONS and why == ""
