"""Who may write the signer's verdict on a version (Covers: registry/auth_app.py
`signer_rule`): only the signer's user, and that user nothing else."""

from __future__ import annotations

import pytest

from contracts.tags import (
    MANIFEST_DIGEST_TAG,
    SIGNATURE_REFUSED_TAG,
    SIGNATURE_TAG,
    SIGNER_FIGURES_TAG,
    SIGNER_USER,
)
from registry.auth_app import signer_rule

SET = "mlflow/model-versions/set-tag"
DELETE = "mlflow/model-versions/delete-tag"


@pytest.mark.parametrize("tag", [SIGNATURE_TAG, SIGNATURE_REFUSED_TAG, SIGNER_FIGURES_TAG])
def test_the_signer_writes_its_verdict(tag: str) -> None:
    assert signer_rule(SIGNER_USER, "POST", SET, tag) is None


@pytest.mark.parametrize(
    ("method", "route", "tag"),
    [
        ("POST", "mlflow/registered-models/alias", None),  # its EDIT would move champion
        ("DELETE", "mlflow/registered-models/alias", None),
        ("POST", SET, MANIFEST_DIGEST_TAG),
        ("POST", SET, "gate.passed"),
        ("DELETE", DELETE, SIGNATURE_TAG),
        ("POST", "mlflow/model-versions/create", None),
        ("POST", "mlflow/runs/create", None),
        ("POST", "mlflow/registered-models/set-tag", None),
    ],
    ids=["alias", "alias delete", "pin", "gate", "delete verdict", "version", "run", "model tag"],
)
def test_the_signer_may_do_nothing_else(method: str, route: str, tag: str | None) -> None:
    assert signer_rule(SIGNER_USER, method, route, tag) is not None


@pytest.mark.parametrize("user", ["trainer", "server", "ingest"])
@pytest.mark.parametrize("route", [SET, DELETE])
def test_nobody_else_writes_or_erases_a_verdict(user: str, route: str) -> None:
    """A train zone cannot forge a signature, but it could erase one (or write a refusal)
    and keep a good version from being served."""
    for tag in (SIGNATURE_TAG, SIGNATURE_REFUSED_TAG, SIGNER_FIGURES_TAG):
        assert signer_rule(user, "POST" if route == SET else "DELETE", route, tag) is not None
    assert signer_rule(user, "POST", SET, "accuracy") is None  # the rest is MLflow's to decide


def test_reads_are_never_the_rules_business() -> None:
    assert signer_rule(SIGNER_USER, "GET", "mlflow/model-versions/get", None) is None
    assert signer_rule(SIGNER_USER, "POST", "mlflow/model-versions/search", None) is None
