"""A replica loads only what a trusted key signed, for that model and that version.

The registry (here a fake one) is what an attacker controls in these tests: it can hand out
any tags and any files. The replica's key ring and trust policy are the operator's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contracts import env, signatures
from serving.config import FamilyConfig, ServeAppConfig, TrustConfig
from serving.family_core import FamilyMembers, NotServable
from serving.lifecycle import ModelLifecycle
from serving.trust import TrustRing
from tests.unit.serving.test_lifecycle import CountingMetrics
from tests.utils.bundles import make_bundle
from tests.utils.fake_registry import SNAPSHOT, FakeRegistry, sign_folder, signing_key, trust_ring

CONFIG = ServeAppConfig(poll_interval_s=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "v")


@pytest.fixture
def setup(built: Path, tmp_path: Path) -> tuple[FakeRegistry, ModelLifecycle, CountingMetrics]:
    registry = FakeRegistry(versions={"1": (built, True), "2": (built, True)}, alias="1")
    metrics = CountingMetrics()
    lifecycle = ModelLifecycle(lambda: registry, tmp_path / "cache", metrics)
    return registry, lifecycle, metrics


def refresh(lifecycle: ModelLifecycle, config: ServeAppConfig = CONFIG) -> None:
    asyncio.run(lifecycle.refresh(config))


def served(lifecycle: ModelLifecycle) -> str | None:
    return lifecycle.current.info.version if lifecycle.current else None


def test_the_loaded_version_carries_its_signer_and_snapshot(setup) -> None:
    _, lifecycle, _ = setup
    refresh(lifecycle)
    current = lifecycle.current
    assert current is not None and current.provenance is not None
    assert current.provenance.key_id == signatures.key_id(signing_key().public_key())
    assert current.info.snapshot_digest == SNAPSHOT


def test_an_unsigned_version_is_not_downloaded_until_the_signer_signs_it(setup) -> None:
    """A forced promotion of a version the signer never passed: refused without a download,
    said in last_error and the metric, and loaded at the first poll after it is signed."""
    registry, lifecycle, metrics = setup
    refresh(lifecycle)
    registry.signatures["2"] = None
    registry.alias = "2"
    refresh(lifecycle)
    assert served(lifecycle) == "1" and registry.downloads == ["1"]
    assert lifecycle.last_error is not None and "v2 is not signed" in lifecycle.last_error
    assert "signature" in metrics.failures and "2" not in lifecycle.refused
    registry.signatures.pop("2")  # the signer signs it
    refresh(lifecycle)
    assert served(lifecycle) == "2"


def test_the_signers_refusal_is_what_the_replica_reports(setup, built: Path) -> None:
    registry, lifecycle, _ = setup
    refresh(lifecycle)
    registry.signatures["2"] = None
    registry.alias = "2"
    original = registry.pinned

    def refused_by_signer(name: str, version: str):  # type: ignore[no-untyped-def]
        resolved = original(name, version)
        return resolved.model_copy(update={"signer_refusal": "accuracy 0.51 is not 0.97"})

    registry.pinned = refused_by_signer  # type: ignore[method-assign]
    refresh(lifecycle)
    assert served(lifecycle) == "1"
    assert "refused by the signer: accuracy 0.51 is not 0.97" in (lifecycle.last_error or "")


def test_a_signature_by_an_untrusted_key_is_never_downloaded(setup, built: Path) -> None:
    registry, lifecycle, _ = setup
    refresh(lifecycle)
    registry.signatures["2"] = sign_folder(
        built, CONFIG.model_name, "2", signatures.new_private_key()
    )
    registry.alias = "2"
    refresh(lifecycle)
    assert served(lifecycle) == "1" and "2" not in registry.downloads
    assert "policy does not trust" in (lifecycle.last_error or "")


@pytest.mark.parametrize(
    ("model", "version", "words"),
    [("sentiment", "1", "for sentiment v1, not sentiment v2"), ("other", "2", "for other v2")],
)
def test_a_signature_for_another_version_or_model_is_refused(
    setup, built: Path, model: str, version: str, words: str
) -> None:
    """A valid signature of v1 (or of another model) attached to v2 by the registry."""
    registry, lifecycle, _ = setup
    refresh(lifecycle)
    registry.signatures["2"] = sign_folder(built, model, version)
    registry.alias = "2"
    refresh(lifecycle)
    assert served(lifecycle) == "1" and "2" not in registry.downloads
    assert words in (lifecycle.last_error or "")


def test_the_policy_names_which_keys_of_the_ring_may_sign(
    setup, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two keys in the ring (a rotation); the model's policy trusts only the new one."""
    registry, lifecycle, _ = setup
    new = signatures.new_private_key()
    ring = trust_ring(tmp_path / "ring.json", signing_key().public_key(), new.public_key())
    monkeypatch.setenv(env.SERVE_TRUSTED_KEYS_FILE, str(ring))
    only_new = CONFIG.model_copy(
        update={"trust": TrustConfig(signers=[signatures.key_id(new.public_key())[:16]])}
    )
    refresh(lifecycle, only_new)
    assert served(lifecycle) is None  # v1 is signed by the old key
    registry.signatures["1"] = sign_folder(built, CONFIG.model_name, "1", new)
    refresh(lifecycle, only_new)
    assert served(lifecycle) == "1"


def test_retiring_a_key_stops_its_versions_unless_re_signed(
    setup, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, lifecycle, metrics = setup
    old, new = signing_key(), signatures.new_private_key()
    ring = trust_ring(tmp_path / "ring.json", old.public_key(), new.public_key())
    monkeypatch.setenv(env.SERVE_TRUSTED_KEYS_FILE, str(ring))
    refresh(lifecycle)
    assert served(lifecycle) == "1"
    # The rotation re-signed v1 with the new key; the old one is retired: still served,
    # from the files already verified (nothing downloaded again).
    registry.signatures["1"] = sign_folder(built, CONFIG.model_name, "1", new)
    trust_ring(ring, new.public_key())
    refresh(lifecycle)
    assert served(lifecycle) == "1" and registry.downloads == ["1"]
    assert lifecycle.current is not None and lifecycle.current.provenance is not None
    assert lifecycle.current.provenance.key_id == signatures.key_id(new.public_key())
    # That key retired too, with nothing re-signed: v1 stops being served.
    trust_ring(ring, old.public_key())
    refresh(lifecycle)
    assert served(lifecycle) is None
    assert metrics.failures.count("signature") >= 2  # dropped, then v1 refused to reload
    assert "policy does not trust" in (lifecycle.last_error or "")


def test_an_unreadable_ring_keeps_what_was_verified(
    setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, lifecycle, _ = setup
    refresh(lifecycle)
    monkeypatch.setenv(env.SERVE_TRUSTED_KEYS_FILE, str(tmp_path / "gone.json"))
    registry.alias = "2"
    refresh(lifecycle)
    assert served(lifecycle) == "1"  # kept, and nothing new loaded without a ring
    assert "no key ring" in (lifecycle.last_error or "")


def test_a_key_filed_under_another_keys_id_is_refused(tmp_path: Path) -> None:
    """A ring whose entry's PEM is not the key its id names trusts nothing."""
    honest, other = signing_key().public_key(), signatures.new_private_key().public_key()
    ring = signatures.KeyRing(
        keys={signatures.key_id(honest): signatures.public_pem(other).decode()}
    )
    path = tmp_path / "ring.json"
    path.write_text(ring.model_dump_json())
    with pytest.raises(Exception, match="key ring unusable"):
        TrustRing(path).keys(TrustConfig())


def test_a_family_member_must_be_signed(built: Path, tmp_path: Path) -> None:
    registry = FakeRegistry(versions={"1": (built, True)}, alias="1")
    registry.signatures["1"] = None
    members = FamilyMembers(lambda: registry, tmp_path / "cache")
    config = FamilyConfig(members=["sentiment"])
    with pytest.raises(NotServable, match="not signed"):
        members.load("sentiment", config)
    assert registry.downloads == []
    registry.signatures.pop("1")
    loaded = members.load("sentiment", config)
    assert loaded.predictor.provenance is not None and members.trusted(loaded, config)


def test_a_signature_nested_thousands_deep_is_refused_not_raised(setup) -> None:
    """A registry can hand over any tag: JSON nested past Python's recursion limit must be
    a refusal like any other, never a crash of the poller (or of a starting replica)."""
    registry, lifecycle, _ = setup
    refresh(lifecycle)
    registry.signatures["2"] = "[" * 50_000
    registry.alias = "2"
    refresh(lifecycle)
    assert served(lifecycle) == "1" and "2" not in registry.downloads
    assert "not an OMS signature bundle" in (lifecycle.last_error or "")
    assert signatures.key_hint("[" * 50_000) is None


def test_a_family_member_whose_files_fail_is_not_downloaded_again(
    built: Path, tmp_path: Path
) -> None:
    registry = FakeRegistry(versions={"1": (built, True)}, alias="1")
    registry.signatures["1"] = sign_folder(built, "sentiment", "1")
    original = registry.download

    def tampered(resolved, destination, max_bytes=None):  # type: ignore[no-untyped-def]
        local = original(resolved, destination, max_bytes)
        (local / "labels.json").write_text('["x", "y"]')
        return local

    registry.download = tampered  # type: ignore[method-assign]
    members = FamilyMembers(lambda: registry, tmp_path / "cache")
    config = FamilyConfig(members=["sentiment"])
    with pytest.raises(Exception, match="not the signed ones"):
        members.load("sentiment", config)
    with pytest.raises(NotServable, match="refused"):
        members.load("sentiment", config)
    assert registry.downloads == ["1"]
