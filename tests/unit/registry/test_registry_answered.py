"""Which registry failures a starting replica waits out (serving/lifecycle.py's start hold)."""

from __future__ import annotations

import pytest
from mlflow.exceptions import RestException

from registry.reader import BundleTooLarge, RegistryReadError, registry_answered


@pytest.mark.parametrize(
    "error_code", ["RESOURCE_DOES_NOT_EXIST", "PERMISSION_DENIED", "INVALID_PARAMETER_VALUE"]
)
def test_a_refusal_is_an_answer(error_code: str) -> None:
    assert registry_answered(RestException({"error_code": error_code, "message": "no"}))


@pytest.mark.parametrize("error_code", ["INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE"])
def test_a_server_error_is_no_answer(error_code: str) -> None:
    assert not registry_answered(RestException({"error_code": error_code, "message": "busy"}))


def test_our_own_refusals_are_answers_and_a_dead_connection_is_not() -> None:
    assert registry_answered(RegistryReadError("alias m@champion: registry answered 404"))
    assert registry_answered(BundleTooLarge("too big"))
    assert not registry_answered(ConnectionError("refused"))
    assert not registry_answered(TimeoutError())
