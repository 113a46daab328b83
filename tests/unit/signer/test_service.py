"""The signer's pass over the registry (Covers: signer/service.py): each waiting version gets
one verdict, written as tags; a download that fails is tried again, never judged. The
registry is faked (what lies outside the unit); the bundles and the snapshot are real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from contracts import provenance, signatures
from contracts.signatures import SignerPolicy
from contracts.tags import (
    ACCURACY_TAG,
    MANIFEST_DIGEST_TAG,
    PROVENANCE_TAG,
    SIGNATURE_REFUSED_TAG,
    SIGNATURE_TAG,
    SIGNER_FIGURES_TAG,
)
from signer.service import Resigner, sign_waiting

KEY = signatures.new_private_key()


class FakeVersions:
    def __init__(self, bundle: Path, versions: dict[tuple[str, str], dict[str, str]]) -> None:
        self.bundle = bundle
        self.tags = versions
        self.failing: set[tuple[str, str]] = set()
        self.downloads: list[tuple[str, str]] = []
        self.champions: dict[str, str] = {}

    def waiting(self) -> list[tuple[str, str, dict[str, str]]]:
        return [
            (model, version, dict(tags))
            for (model, version), tags in sorted(self.tags.items())
            if SIGNATURE_TAG not in tags and SIGNATURE_REFUSED_TAG not in tags
        ]

    def signed_by_others(self, key_id: str) -> list[tuple[str, str, dict[str, str]]]:
        return [
            (model, version, dict(tags))
            for (model, version), tags in sorted(self.tags.items())
            if SIGNATURE_TAG in tags and signatures.key_hint(tags[SIGNATURE_TAG]) != key_id
        ]

    def champion(self, model: str) -> tuple[str, dict[str, str]] | None:
        version = self.champions.get(model)
        return None if version is None else (version, dict(self.tags[(model, version)]))

    def download(self, model: str, version: str, destination: Path) -> Path:
        self.downloads.append((model, version))
        if (model, version) in self.failing:
            raise ConnectionError("registry unreachable")
        return Path(shutil.copytree(self.bundle, destination / "bundle"))

    def record(self, model: str, version: str, tags: dict[str, str]) -> None:
        self.tags[(model, version)].update(tags)


def test_each_waiting_version_gets_one_verdict_and_a_failed_download_waits(
    made, tmp_path: Path
) -> None:
    folder, root, tags = made
    versions = FakeVersions(
        folder,
        {
            ("sentiment", "1"): dict(tags),
            ("sentiment", "2"): {**tags, ACCURACY_TAG: "0.99"},  # fake figures
            ("sentiment", "3"): dict(tags),
        },
    )
    versions.failing.add(("sentiment", "3"))
    decided = sign_waiting(versions, root, KEY, SignerPolicy(), tmp_path)
    assert [(v, verdict.signed) for _, v, verdict in decided] == [("1", True), ("2", False)]
    signed, refused, untouched = (versions.tags[("sentiment", v)] for v in ("1", "2", "3"))
    trusted = {signatures.key_id(KEY.public_key()): KEY.public_key()}
    found = signatures.verify(
        folder, signed[SIGNATURE_TAG], trusted, "sentiment", "1", tags[MANIFEST_DIGEST_TAG]
    )
    assert found.files > 0
    assert json.loads(signed[SIGNER_FIGURES_TAG])["examples"] == 20
    assert "train recorded accuracy 0.9900" in refused[SIGNATURE_REFUSED_TAG]
    assert SIGNATURE_TAG not in refused
    assert SIGNATURE_TAG not in untouched and SIGNATURE_REFUSED_TAG not in untouched
    assert list(tmp_path.iterdir()) == []  # every download removed
    # The next pass: only the version whose download failed is still waiting.
    versions.failing.clear()
    again = sign_waiting(versions, root, KEY, SignerPolicy(), tmp_path)
    assert [(v, verdict.signed) for _, v, verdict in again] == [("3", True)]
    assert sign_waiting(versions, root, KEY, SignerPolicy(), tmp_path) == []


def _ring(path: Path, *keys: signatures.ec.EllipticCurvePrivateKey) -> Path:
    ring = signatures.KeyRing(
        keys={
            signatures.key_id(k.public_key()): signatures.public_pem(k.public_key()).decode()
            for k in keys
        }
    )
    path.write_text(ring.model_dump_json())
    return path


def test_after_a_rotation_what_a_trusted_key_signed_is_re_signed_with_the_new_one(
    made, tmp_path: Path
) -> None:
    """Same binding, new key; a signature no key of the ring made (forged, or by a retired
    key) is not carried forward, nor even downloaded by the re-signer."""
    folder, root, tags = made
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    versions = FakeVersions(
        folder, {("sentiment", "1"): dict(tags), ("sentiment", "2"): dict(tags)}
    )
    sign_waiting(versions, root, KEY, SignerPolicy(), scratch)
    stranger = signatures.new_private_key()
    forged = signatures.sign(
        folder,
        signatures.Binding(
            model="sentiment",
            version="2",
            manifest_sha256=tags[MANIFEST_DIGEST_TAG],
            snapshot_digest="x",
            training_run_id="y",
        ),
        stranger,
    )
    versions.tags[("sentiment", "2")][SIGNATURE_TAG] = forged
    new = signatures.new_private_key()
    resigner = Resigner(_ring(tmp_path / "ring.json", KEY, new))
    assert resigner.run(versions, new, scratch) == [("sentiment", "1")]
    resigned = versions.tags[("sentiment", "1")][SIGNATURE_TAG]
    trusted = {signatures.key_id(new.public_key()): new.public_key()}
    found = signatures.verify(
        folder, resigned, trusted, "sentiment", "1", tags[MANIFEST_DIGEST_TAG]
    )
    assert found.binding.training_run_id == tags["training_run_id"]
    renewed = versions.tags[("sentiment", "1")][PROVENANCE_TAG]  # its provenance too
    assert provenance.verify(renewed, trusted, "sentiment", "1", found.root_digest)[0] == (
        signatures.key_id(new.public_key())
    )
    assert versions.tags[("sentiment", "2")][SIGNATURE_TAG] == forged
    assert resigner.run(versions, new, scratch) == []
    assert versions.downloads.count(("sentiment", "2")) == 1  # signed once, never again
    assert list(scratch.iterdir()) == []


def test_a_retired_keys_signature_is_never_carried_forward_but_judged_again(
    made, tmp_path: Path
) -> None:
    """A leaked key, retired: whatever it signed (a forgery among it) is measured again as
    if unsigned; the re-signer, reading the ring afresh, carries none of it forward."""
    folder, root, tags = made
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    leaked, new = signatures.new_private_key(), signatures.new_private_key()
    versions = FakeVersions(
        folder,
        {
            ("sentiment", "1"): dict(tags),  # honest figures
            ("sentiment", "2"): {**tags, ACCURACY_TAG: "0.99"},  # fake figures
        },
    )
    for version in ("1", "2"):  # both signed with the leaked key (one by the attacker)
        binding = signatures.Binding(
            model="sentiment",
            version=version,
            manifest_sha256=tags[MANIFEST_DIGEST_TAG],
            snapshot_digest=tags["dataset_digest"],
            training_run_id=tags["training_run_id"],
        )
        versions.tags[("sentiment", version)][SIGNATURE_TAG] = signatures.sign(
            folder, binding, leaked
        )
    ring = _ring(tmp_path / "ring.json", leaked, new)
    resigner = Resigner(ring)
    _ring(ring, new)  # `rotate --compromised`: the leaked key leaves the ring at once
    assert resigner.run(versions, new, scratch) == []
    judged = sign_waiting(versions, root, new, SignerPolicy(), scratch, resigner.trusted())
    assert [(v, verdict.signed) for _, v, verdict in judged] == [("1", True), ("2", False)]
    assert signatures.key_hint(versions.tags[("sentiment", "1")][SIGNATURE_TAG]) == (
        signatures.key_id(new.public_key())
    )
    assert (
        "train recorded accuracy 0.9900" in versions.tags[("sentiment", "2")][SIGNATURE_REFUSED_TAG]
    )
    # Judged once: the refusal is final, the new signature is the ring's.
    assert sign_waiting(versions, root, new, SignerPolicy(), scratch, resigner.trusted()) == []
