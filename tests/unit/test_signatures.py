"""Model signatures (Covers: contracts/signatures.py): OMS bundles that OpenSSF's own
`model_signing` verifier accepts, and every way a signature must fail to prove a bundle."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from contracts import signatures
from contracts.bundle import MANIFEST
from contracts.digest import sha256_file
from contracts.signatures import Binding, SignatureError


def _bundle(folder: Path) -> Path:
    """A bundle's shape (the signature does not look inside the files)."""
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"\x08\x07onnx-bytes" * 100)
    (folder / "labels.json").write_text('["fresh", "rotten"]')
    (folder / "tokenizer" / "tokenizer.json").write_text('{"vocab": {}}')
    (folder / MANIFEST).write_text('{"files": {}}')
    return folder


def _binding(folder: Path, model: str = "sentiment", version: str = "3") -> Binding:
    return Binding(
        model=model,
        version=version,
        manifest_sha256=sha256_file(folder / MANIFEST),
        snapshot_digest="296f1d931bb5" + "0" * 52,
        training_run_id="75c26d57a5a94ba3b6df2f809dbef814",
    )


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, str, object]:
    folder = _bundle(tmp_path / "bundle")
    key = signatures.new_private_key()
    return folder, signatures.sign(folder, _binding(folder), key), key


def _trusted(*keys) -> dict:
    return {signatures.key_id(k.public_key()): k.public_key() for k in keys}


def test_a_signature_verifies_for_its_model_version_and_files(signed) -> None:
    folder, signature, key = signed
    found = signatures.verify(
        folder, signature, _trusted(key), "sentiment", "3", sha256_file(folder / MANIFEST)
    )
    assert found.key_id == signatures.key_id(key.public_key())
    assert found.binding.training_run_id == "75c26d57a5a94ba3b6df2f809dbef814"
    assert found.files == 4


def test_openssf_model_signing_accepts_the_signature(signed, tmp_path: Path) -> None:
    """Users check a Bulkhead bundle with their own tools: the OMS reference verifier
    (`model_signing` 1.1, the PyPI package) accepts it with nothing but the public key."""
    import model_signing

    folder, signature, key = signed
    (tmp_path / "model.sig").write_text(signature)
    (tmp_path / "key.pub").write_bytes(signatures.public_pem(key.public_key()))
    config = model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=tmp_path / "key.pub"
    )
    config.verify(folder, tmp_path / "model.sig")  # raises if it does not verify
    (folder / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ValueError):
        config.verify(folder, tmp_path / "model.sig")


def test_a_plain_oms_signature_without_the_binding_is_refused(tmp_path: Path) -> None:
    """A signature `model_signing` itself made, with a trusted key, says nothing of which
    model and version it is for: it could be replayed onto any version."""
    import model_signing

    folder = _bundle(tmp_path / "bundle")
    key = signatures.new_private_key()
    (tmp_path / "key.pem").write_bytes(signatures.private_pem(key))
    model_signing.signing.Config().use_elliptic_key_signer(private_key=tmp_path / "key.pem").sign(
        folder, tmp_path / "model.sig"
    )
    with pytest.raises(SignatureError, match="malformed"):
        signatures.verify(
            folder, (tmp_path / "model.sig").read_text(), _trusted(key), "sentiment", "3"
        )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda f: (f / "model.onnx").write_bytes(b"another model"), "changed: model.onnx"),
        (lambda f: (f / "labels.json").unlink(), "missing: labels.json"),
        (lambda f: (f / "extra.py").write_text("import os"), "not signed: extra.py"),
        (lambda f: (f / "tokenizer" / "added.json").write_text("{}"), "tokenizer/added.json"),
    ],
    ids=["a file replaced", "a file removed", "a file added", "a file added below"],
)
def test_files_that_are_not_the_signed_ones_are_refused(signed, tamper, reason: str) -> None:
    """The registry admin's attack: replace the champion's model.onnx (and the pin)."""
    folder, signature, key = signed
    tamper(folder)
    with pytest.raises(SignatureError, match=reason):
        signatures.verify(folder, signature, _trusted(key), "sentiment", "3")


@pytest.mark.parametrize(
    ("model", "version"), [("sentiment", "4"), ("subjectivity", "3")], ids=["version", "model"]
)
def test_a_signature_replayed_onto_another_version_or_model_is_refused(
    signed, model: str, version: str
) -> None:
    folder, signature, key = signed
    with pytest.raises(SignatureError, match="is for sentiment v3"):
        signatures.verify(folder, signature, _trusted(key), model, version)


def test_a_key_the_policy_does_not_trust_is_refused_and_rotation_trusts_two(signed) -> None:
    folder, signature, key = signed
    other, retiring = signatures.new_private_key(), key
    with pytest.raises(SignatureError, match="does not trust"):
        signatures.verify(folder, signature, _trusted(other), "sentiment", "3")
    with pytest.raises(SignatureError, match="no key is trusted"):
        signatures.verify(folder, signature, {}, "sentiment", "3")
    both = _trusted(other, retiring)  # a key rotation: the old and the new
    assert signatures.verify(folder, signature, both, "sentiment", "3").key_id in both


def test_a_changed_statement_under_the_old_signature_is_refused(signed) -> None:
    """Rewriting the signed statement (here: the version it names) breaks the ECDSA check."""
    folder, signature, key = signed
    bundle = json.loads(signature)
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["bulkhead"]["version"] = "4"
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(SignatureError, match="does not verify"):
        signatures.verify(folder, json.dumps(bundle), _trusted(key), "sentiment", "4")


def test_a_signature_without_a_key_hint_is_tried_against_every_trusted_key(signed) -> None:
    folder, signature, key = signed
    bundle = json.loads(signature)
    bundle["verificationMaterial"]["publicKey"]["hint"] = ""
    trusted = _trusted(signatures.new_private_key(), key)
    assert signatures.verify(folder, json.dumps(bundle), trusted, "sentiment", "3").files == 4


def test_a_manifest_other_than_the_registry_pins_is_refused(signed) -> None:
    folder, signature, key = signed
    with pytest.raises(SignatureError, match="another manifest than the registry pins"):
        signatures.verify(folder, signature, _trusted(key), "sentiment", "3", "f" * 64)


@pytest.mark.parametrize(
    "garbage",
    ["", "[]", "{}", '{"dsseEnvelope": {}}', "x" * (signatures.MAX_SIGNATURE_BYTES + 1)],
    ids=["empty", "list", "no envelope", "empty envelope", "oversized"],
)
def test_garbage_is_a_signature_error_never_a_crash(signed, garbage: str) -> None:
    folder, _, key = signed
    with pytest.raises(SignatureError):
        signatures.verify(folder, garbage, _trusted(key), "sentiment", "3")


def test_a_link_in_the_bundle_is_refused(signed, tmp_path: Path) -> None:
    folder, signature, key = signed
    (tmp_path / "elsewhere").write_text("x")
    (folder / "linked.json").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SignatureError, match="is a link"):
        signatures.verify(folder, signature, _trusted(key), "sentiment", "3")


def test_only_supported_ec_keys_load() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    other = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(SignatureError, match="EC key"):
        signatures.load_public_keys([pem])
    with pytest.raises(SignatureError, match="not a PEM"):
        signatures.load_public_keys([b"not a key"])
    key = signatures.new_private_key()
    loaded = signatures.load_public_keys([signatures.public_pem(key.public_key())])
    assert list(loaded) == [signatures.key_id(key.public_key())]
