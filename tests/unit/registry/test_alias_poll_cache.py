"""The registry poll route's cache: answers expire, writes empty it, it stays bounded."""

from __future__ import annotations

from registry.alias_poll import TimedCache, etag_of, is_registry_write


def test_entries_expire_after_their_ttl() -> None:
    now = [0.0]
    cache = TimedCache(1.0, clock=lambda: now[0])
    cache.put("k", {"version": "1"})
    assert cache.get("k") == {"version": "1"}
    now[0] = 1.01
    assert cache.get("k") is None


def test_clear_and_the_size_bound() -> None:
    cache = TimedCache(60.0)
    for i in range(10_002):
        cache.put(i, i)
    assert cache.get(0) is None  # the bound emptied the map once it passed 10,000 entries
    cache.put("a", 1)
    cache.clear()
    assert cache.get("a") is None


def test_which_calls_count_as_registry_writes() -> None:
    assert is_registry_write("POST", "mlflow/registered-models/alias")
    assert is_registry_write("DELETE", "mlflow/model-versions/delete-tag")
    assert not is_registry_write("GET", "mlflow/registered-models/alias")
    assert not is_registry_write("POST", "mlflow/runs/create")
    assert not is_registry_write("POST", None)


def test_the_etag_follows_the_answer() -> None:
    a = {"version": "1", "tags": {"x": "1"}}
    assert etag_of(a) == etag_of(dict(reversed(list(a.items()))))
    assert etag_of(a) != etag_of({"version": "1", "tags": {"x": "2"}})


def test_the_answer_lifetime_comes_from_the_environment_within_bounds(monkeypatch) -> None:
    from registry.alias_poll import answer_ttl_s

    monkeypatch.delenv("BULKHEAD_REGISTRY_ALIAS_CACHE_S", raising=False)
    assert answer_ttl_s() == 1.0  # several registry processes: stay short
    monkeypatch.setenv("BULKHEAD_REGISTRY_ALIAS_CACHE_S", "30")
    assert answer_ttl_s() == 30.0
    monkeypatch.setenv("BULKHEAD_REGISTRY_ALIAS_CACHE_S", "1e9")
    assert answer_ttl_s() == 300.0
    monkeypatch.setenv("BULKHEAD_REGISTRY_ALIAS_CACHE_S", "soon")
    assert answer_ttl_s() == 1.0


def test_an_answer_read_while_a_write_is_in_flight_is_not_kept() -> None:
    """Found in CI: a poll answered between a promotion's arrival and its commit cached the
    old version for the cache's 30 s, and replicas followed the promotion 31.7 s late."""
    from registry.alias_poll import AnswerCache

    cache = AnswerCache(30.0)
    cache.write_started()  # a promotion has arrived; its commit is still to come
    read_at = cache.generation()
    assert not cache.put_if_unchanged("k", {"version": "1"}, read_at)
    assert cache.get("k") is None
    cache.write_ended()
    assert cache.get("k") is None


def test_an_answer_read_before_a_write_and_stored_after_it_is_not_kept() -> None:
    from registry.alias_poll import AnswerCache

    cache = AnswerCache(30.0)
    read_at = cache.generation()  # the lookup reads the database here...
    cache.write_started()
    cache.write_ended()  # ...a promotion commits...
    assert not cache.put_if_unchanged("k", {"version": "1"}, read_at)  # ...then it returns
    assert cache.get("k") is None
    fresh = cache.generation()
    assert cache.put_if_unchanged("k", {"version": "2"}, fresh)
    assert cache.get("k") == {"version": "2"}


def test_the_changes_etag_moves_with_every_write_and_never_holds_mid_write() -> None:
    """The signer lists every version again only when this ETag moved (GET
    /bulkhead/v1/changes): it must move for every write, and an answer given while a write
    is in flight must never match a later one."""
    from registry.alias_poll import answers, changes_etag

    idle = changes_etag()
    assert changes_etag() == idle  # nothing written: the same answer
    answers.write_started()
    during = {changes_etag(), changes_etag()}
    assert len(during) == 2 and idle not in during
    answers.write_ended()
    after = changes_etag()
    assert after not in during | {idle} and changes_etag() == after
