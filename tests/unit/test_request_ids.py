"""Request ids any replica of the zone verifies without shared state."""

from __future__ import annotations

import pytest

from contracts.request_ids import RequestIdError, RequestIds

KEY = b"k" * 32


def test_an_id_verifies_on_another_replica_with_the_same_key_for_the_same_model() -> None:
    issued = RequestIds(KEY).issue("sentiment")
    assert RequestIds(KEY).verify(issued, "sentiment", max_age_s=60) > 0
    assert len({RequestIds(KEY).issue("sentiment") for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("mutate", "model"),
    [
        (lambda i: i, "subjectivity"),  # issued for another model
        (lambda i: i[:-1] + ("0" if i[-1] != "0" else "1"), "sentiment"),  # one char changed
        (lambda i: "0." + i.split(".", 1)[1], "sentiment"),  # time rewritten
        (lambda i: "made-up-request-id", "sentiment"),
        (lambda i: i + ".x", "sentiment"),
        (lambda i: i[:-1] + "é", "sentiment"),  # non-ASCII mac: compare_digest would raise
        (lambda i: "é" + i, "sentiment"),  # non-ASCII time
    ],
)
def test_forged_or_foreign_ids_do_not_verify(mutate, model) -> None:
    issued = RequestIds(KEY).issue("sentiment")
    with pytest.raises(RequestIdError, match="unknown request id"):
        RequestIds(KEY).verify(mutate(issued), model, max_age_s=60)


def test_another_zones_key_does_not_verify() -> None:
    issued = RequestIds(b"o" * 32).issue("sentiment")
    with pytest.raises(RequestIdError):
        RequestIds(KEY).verify(issued, "sentiment", max_age_s=60)


def test_an_old_id_is_refused_as_too_old() -> None:
    now = [1_000_000.0]
    ids = RequestIds(KEY, clock=lambda: now[0])
    issued = ids.issue("sentiment")
    now[0] += 3 * 3600
    with pytest.raises(RequestIdError, match="old"):
        ids.verify(issued, "sentiment", max_age_s=3600)


def test_without_a_shared_key_ids_are_issued_but_none_verifies(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("BULKHEAD_REQUEST_ID_KEY_FILE", raising=False)
    ids = RequestIds.from_environment()
    assert not ids.shared
    with pytest.raises(RequestIdError):
        ids.verify(ids.issue("sentiment"), "sentiment", max_age_s=60)
    key = tmp_path / "key"
    key.write_bytes(KEY)
    monkeypatch.setenv("BULKHEAD_REQUEST_ID_KEY_FILE", str(key))
    assert RequestIds.from_environment().shared
