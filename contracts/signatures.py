"""Model signatures in the OpenSSF model-signing (OMS) format, signed and verified offline.

Why a signature: the train and serve zones meet only at the registry, so a version that is
served only because the registry says so is a version whoever controls the registry chose.
A signature made by a key the registry never holds, and checked by the serve zone before it
loads anything, takes the registry out of what serving trusts for integrity.

Why this format: it is the one users' own tools check (``model_signing`` on PyPI, the OMS
specification: a Sigstore bundle whose DSSE envelope carries an in-toto statement listing
every file's SHA-256). Signed here with a local elliptic-curve key: no network, no
transparency log. ``model_signing``'s verifier accepts these signatures
(tests/unit/test_signatures.py); the serve zone verifies with ``cryptography`` alone (the
``model_signing`` package pulls Sigstore's whole client into a replica for one ECDSA check).

What is signed, beyond OMS's file list: the predicate carries a ``bulkhead`` object (OMS v1.0
verifiers ignore fields they do not know) binding the registered model's name, its version
number, the manifest's digest, the snapshot's digest and the training run: a signature for
version 1 attached to version 3, or to another model, does not verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.bundle import MANIFEST
from contracts.digest import sha256_file
from contracts.tags import GATE_PASSED_TAG, SIGNATURE_REFUSED_TAG, SIGNATURE_TAG

MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
BINDING_KEY = "bulkhead"
# What OMS's own signer leaves out by default; a bundle holds none of these.
IGNORED_PATHS = (".git", ".gitignore", ".github", ".gitattributes")
# The curves OMS verifiers accept, each with the hash its key size calls for.
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
MAX_SIGNATURE_BYTES = 64 * 1024


class SignatureError(ValueError):
    """The signature does not prove what it must: the reason says which part failed."""


class Binding(BaseModel):
    """What a signature says a bundle is, beyond its files."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1, description="The registered model's name.")
    version: str = Field(min_length=1, description="Its version number in the registry.")
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    snapshot_digest: str = Field(min_length=1, description="The data it learned from.")
    training_run_id: str = Field(min_length=1)


class SignerPolicy(BaseModel):
    """The operator's rules for what the signer signs: platform settings (``BULKHEAD_SIGNER__*``),
    never the run's own config, which a compromised train zone could lower."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tolerance: float = Field(
        0.005,
        ge=0,
        le=1,
        description="How far train's recorded accuracy or macro-F1 may be from the signer's.",
    )
    min_accuracy: float = Field(0.0, ge=0, le=1, description="Held-out accuracy floor.")
    min_macro_f1: float = Field(0.0, ge=0, le=1, description="Held-out macro-F1 floor.")
    max_regression: float = Field(
        0.005,
        ge=0,
        le=1,
        description="Held-out accuracy a version may lose against the champion, both measured "
        "by the signer on the version's own held-out split (the train gate's rule, checked "
        "again: a compromised train zone could record any comparison), plus `tolerance` for "
        "measurement differences. 1: no comparison.",
    )


class VerifiedSignature(BaseModel):
    """A signature that verified: by which key, for what, over how many files."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    binding: Binding
    root_digest: str
    files: int


def key_hint(signature: str) -> str | None:
    """The key id a signature says it was made with (unverified: a hint, as OMS names it)."""
    try:
        hint = json.loads(signature)["verificationMaterial"]["publicKey"]["hint"]
    except (ValueError, KeyError, TypeError, RecursionError):  # deep nesting: not a bundle
        return None
    return hint if isinstance(hint, str) else None


def verdict_of(tags: Mapping[str, str]) -> str:
    """The signer's verdict on a version as `bulkhead models` shows it: ``signed (key …)``,
    ``refused: <why>``, ``waiting`` (passed the gate, not judged yet) or ``—``."""
    if SIGNATURE_TAG in tags:
        hint = key_hint(tags[SIGNATURE_TAG]) or "?"
        return f"signed (key {hint[:12]})"
    if SIGNATURE_REFUSED_TAG in tags:
        return f"refused: {tags[SIGNATURE_REFUSED_TAG]}"
    return "waiting" if tags.get(GATE_PASSED_TAG) == "true" else "—"


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """OMS's key hint: the SHA-256 of the public key's PEM (SubjectPublicKeyInfo)."""
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _HASHES:
        raise SignatureError("a signing key must be an EC key on P-256, P-384 or P-521")
    return key


def load_public_keys(pems: Iterable[bytes]) -> dict[str, ec.EllipticCurvePublicKey]:
    """Trusted keys by key id; anything but a supported EC public key is refused."""
    found: dict[str, ec.EllipticCurvePublicKey] = {}
    for pem in pems:
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as err:
            raise SignatureError(f"not a PEM public key: {err}") from err
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _HASHES:
            raise SignatureError("a trusted key must be an EC key on P-256, P-384 or P-521")
        found[key_id(key)] = key
    return found


class KeyRing(BaseModel):
    """The public keys a serve zone may trust, by key id: the file the platform hands the
    serve zone (``BULKHEAD_SERVE_TRUSTED_KEYS_FILE``; a ConfigMap under KubeRay). Which of
    them may sign a given model is that model's trust policy (serve_config.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: dict[str, str] = Field(
        default_factory=dict, description="Key id (SHA-256 of the PEM) -> public key PEM."
    )

    def public_keys(self) -> dict[str, ec.EllipticCurvePublicKey]:
        """Every key, checked against the id it is filed under (a PEM filed under another
        key's id would let a policy naming that id trust it)."""
        found: dict[str, ec.EllipticCurvePublicKey] = {}
        for named, pem in self.keys.items():
            ((actual, key),) = load_public_keys([pem.encode()]).items()
            if actual != named:
                raise SignatureError(f"key ring: the key filed as {named[:12]} is {actual[:12]}")
            found[actual] = key
        return found

    @classmethod
    def read(cls, path: Path) -> KeyRing:
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValidationError as err:
            raise SignatureError(f"key ring {path} is malformed: {err}"[:300]) from err


def file_digests(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` by its relative path, as OMS's ``files``
    serialization hashes them (SHA-256 of the content). A link is refused: a signature
    never covers what a link would point at when it is checked."""
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_PATHS)
        for name in [*dirs, *files]:
            path = base / name
            if path.is_symlink():
                raise SignatureError(f"{path.relative_to(folder)} is a link; refused")
        for name in sorted(files):
            if name in IGNORED_PATHS:
                continue
            path = base / name
            if not stat.S_ISREG(path.lstat().st_mode):
                raise SignatureError(f"{path.relative_to(folder)} is not a regular file")
            found[path.relative_to(folder).as_posix()] = sha256_file(path)
    return dict(sorted(found.items()))


def root_digest(digests: Mapping[str, str]) -> str:
    """OMS's subject digest: SHA-256 over every file's raw digest, in name order."""
    hasher = hashlib.sha256()
    for name in sorted(digests):
        hasher.update(bytes.fromhex(digests[name]))
    return hasher.hexdigest()


def statement(digests: Mapping[str, str], binding: Binding) -> dict[str, object]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": f"{binding.model}-v{binding.version}",
                "digest": {"sha256": root_digest(digests)},
            }
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": list(IGNORED_PATHS),
            },
            "resources": [
                {"name": name, "algorithm": "sha256", "digest": digest}
                for name, digest in sorted(digests.items())
            ],
            BINDING_KEY: binding.model_dump(),
        },
    }


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the key actually signs."""
    return b"DSSEv1 %d %s %d %s" % (
        len(PAYLOAD_TYPE),
        PAYLOAD_TYPE.encode(),
        len(payload),
        payload,
    )


def _hash_for(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    return _HASHES[curve.name]()


def sign(folder: Path, binding: Binding, key: ec.EllipticCurvePrivateKey) -> str:
    """The OMS signature (a Sigstore bundle, JSON) of every file in ``folder``."""
    return sign_statement(statement(file_digests(folder), binding), key)


def sign_statement(found: Mapping[str, object], key: ec.EllipticCurvePrivateKey) -> str:
    """Any in-toto statement in a Sigstore bundle's DSSE envelope (the OMS signature, the
    provenance statement beside it)."""
    payload = json.dumps(found, sort_keys=True, separators=(",", ":")).encode()
    signature = key.sign(_pae(payload), ec.ECDSA(_hash_for(key.curve)))
    bundle = {
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key_id(key.public_key())},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }
    return json.dumps(bundle, indent=2)


def signed_statement(
    signature: str, trusted: Mapping[str, ec.EllipticCurvePublicKey]
) -> tuple[str, dict[str, Any]]:
    """The statement a trusted key signed, and that key's id."""
    if len(signature.encode()) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"signature larger than {MAX_SIGNATURE_BYTES} bytes")
    try:
        bundle = json.loads(signature)
        envelope = bundle["dsseEnvelope"]
        hint = str(bundle["verificationMaterial"]["publicKey"].get("hint") or "")
        payload = base64.b64decode(envelope["payload"], validate=True)
        (entry,) = envelope["signatures"]
        raw_signature = base64.b64decode(entry["sig"], validate=True)
        media_type, payload_type = bundle["mediaType"], envelope["payloadType"]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        # RecursionError: JSON nested thousands deep, which a registry could hand over.
        raise SignatureError(f"not an OMS signature bundle: {type(err).__name__}"[:300]) from err
    if media_type != MEDIA_TYPE or payload_type != PAYLOAD_TYPE:
        raise SignatureError(f"unexpected bundle or payload type {media_type!r}/{payload_type!r}")
    if not trusted:
        raise SignatureError("no key is trusted to sign this model")
    candidates = [hint] if hint else list(trusted)
    if hint and hint not in trusted:
        raise SignatureError(
            f"signed by key {hint[:16]}…, which this model's policy does not trust"
        )
    for candidate in candidates:
        key = trusted[candidate]
        try:
            key.verify(raw_signature, _pae(payload), ec.ECDSA(_hash_for(key.curve)))
        except InvalidSignature:
            continue
        try:
            found = json.loads(payload)
        except (ValueError, RecursionError) as err:
            raise SignatureError("the signed payload is not JSON") from err
        if not isinstance(found, dict):
            raise SignatureError("the signed payload is not an in-toto statement")
        return candidate, found
    raise SignatureError("the signature does not verify under any trusted key")


class SignedStatement(BaseModel):
    """A signature whose envelope a trusted key made, binding the model and version asked
    for: what can be checked before a single file is downloaded."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    binding: Binding
    root_digest: str
    files: dict[str, str]


def check_statement(
    signature: str,
    trusted: Mapping[str, ec.EllipticCurvePublicKey],
    model: str,
    version: str,
    manifest_sha256: str | None = None,
) -> SignedStatement:
    """That a trusted key signed a statement for ``model``'s ``version`` (and, when given,
    the manifest digest the registry pins); no file is read. The ``SignatureError`` names the
    first thing that does not hold."""
    signer, found = signed_statement(signature, trusted)
    if found.get("_type") != STATEMENT_TYPE or found.get("predicateType") != PREDICATE_TYPE:
        raise SignatureError("the signed statement is not an OMS v1.0 model signature")
    try:
        predicate = found["predicate"]
        (subject,) = found["subject"]
        signed_root = subject["digest"]["sha256"]
        signed = {r["name"]: r["digest"] for r in predicate["resources"]}
        if any(r.get("algorithm") != "sha256" for r in predicate["resources"]):
            raise SignatureError("only SHA-256 file digests are accepted")
        binding = Binding.model_validate(predicate[BINDING_KEY])
    except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as err:
        if isinstance(err, SignatureError):
            raise
        raise SignatureError(f"the signed statement is malformed: {err!r}"[:300]) from err
    try:
        consistent = root_digest(signed) == signed_root
    except (ValueError, TypeError) as err:  # a digest that is not hex
        raise SignatureError(f"the signed statement is malformed: {err!r}"[:300]) from err
    if not consistent:
        raise SignatureError("the signed file list does not match its own root digest")
    if (binding.model, binding.version) != (model, version):
        raise SignatureError(
            f"the signature is for {binding.model} v{binding.version}, not {model} v{version}"
        )
    if signed.get(MANIFEST, binding.manifest_sha256) != binding.manifest_sha256:
        raise SignatureError("the signed statement names another manifest than it lists")
    if manifest_sha256 is not None and binding.manifest_sha256 != manifest_sha256:
        raise SignatureError("the signature names another manifest than the registry pins")
    return SignedStatement(key_id=signer, binding=binding, root_digest=signed_root, files=signed)


def check_files(folder: Path, statement: SignedStatement) -> VerifiedSignature:
    """That ``folder`` holds exactly the signed files, byte for byte."""
    signed = statement.files
    actual = file_digests(folder)
    missing = sorted(set(signed) - set(actual))
    extra = sorted(set(actual) - set(signed))
    changed = sorted(n for n in set(signed) & set(actual) if signed[n] != actual[n])
    if missing or extra or changed:
        parts = [
            f"{label}: {', '.join(names[:5])}"
            for label, names in (("changed", changed), ("missing", missing), ("not signed", extra))
            if names
        ]
        raise SignatureError("the files are not the signed ones (" + "; ".join(parts) + ")")
    return VerifiedSignature(
        key_id=statement.key_id,
        binding=statement.binding,
        root_digest=statement.root_digest,
        files=len(signed),
    )


def verify(
    folder: Path,
    signature: str,
    trusted: Mapping[str, ec.EllipticCurvePublicKey],
    model: str,
    version: str,
    manifest_sha256: str | None = None,
) -> VerifiedSignature:
    """Check that a trusted key signed exactly the files in ``folder``, for ``model``'s
    ``version`` (and, when given, the manifest digest the registry pins); the
    ``SignatureError`` names the first thing that does not hold."""
    found = check_statement(signature, trusted, model, version, manifest_sha256)
    return check_files(folder, found)
