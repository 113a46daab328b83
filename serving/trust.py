"""Whether a version's signature lets a replica load it: the serve zone's side of signed models.

The registry is not trusted for integrity: whoever controls it (its admin, its database, its
artefact store) can rewrite a bundle and the digest pinned on it alike. A replica therefore
loads a version only when a key its trust policy names (serve_config.yaml ``trust``) signed
exactly those files for exactly that model and version (contracts/signatures.py). The keys
come from the serve zone's key ring, public halves only, which the platform hands over and a
key rotation changes; the ring is re-read when its file changes, so retiring a key takes
effect without restarting a replica.

Two steps, so that a version that can never load costs no download: the signed statement
(which key, which model, version and manifest) is checked before downloading, on every poll
(a signature the signer adds later, or a policy the operator widens, is seen at once); the
files are checked after downloading, before anything parses them (an ONNX parser never sees
bytes no trusted key signed).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from contracts.signatures import (
    KeyRing,
    SignatureError,
    SignedStatement,
    VerifiedSignature,
    check_files,
    check_statement,
)
from registry.reader import ResolvedVersion
from serving.config import TrustConfig
from serving.predictor import ModelLoadError


class NotTrusted(RuntimeError):
    """The version has no signature this replica's policy accepts (yet): not loaded, and
    checked again at the next poll, without a download."""


class SignatureRefused(ModelLoadError):
    """The downloaded files are not the ones the trusted signature covers: refused for good."""


class TrustRing:
    """The serve zone's key ring, re-read when its file changes (``keys_file``: a fixed path
    for tests; otherwise the file the policy's environment variable names)."""

    def __init__(self, keys_file: Path | None = None) -> None:
        self._fixed = keys_file
        self._lock = threading.Lock()
        self._seen: tuple[Path, int, int, int] | None = None
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}

    def _file(self, policy: TrustConfig) -> Path:
        if self._fixed is not None:
            return self._fixed
        named = os.environ.get(policy.keys_file_env)
        if not named:
            raise NotTrusted(f"no key ring: ${policy.keys_file_env} is not set")
        return Path(named)

    def keys(self, policy: TrustConfig) -> dict[str, ec.EllipticCurvePublicKey]:
        """Every key of the ring (public halves), whichever the policy names."""
        path = self._file(policy)
        try:
            info = path.stat()
        except OSError as err:
            raise NotTrusted(f"no key ring at {path}: {err.strerror}") from err
        seen = (path, info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if seen != self._seen:
                try:
                    self._keys = KeyRing.read(path).public_keys()
                except (OSError, SignatureError) as err:
                    raise NotTrusted(f"key ring unusable: {err}") from err
                self._seen = seen
            return dict(self._keys)

    def trusted(self, policy: TrustConfig) -> dict[str, ec.EllipticCurvePublicKey]:
        """The ring's keys the policy names (``*``: all of them)."""
        return allowed(self.keys(policy), policy)

    def statement(self, resolved: ResolvedVersion, policy: TrustConfig) -> SignedStatement:
        """The version's signed statement, before any download; ``NotTrusted`` says why not."""
        where = f"v{resolved.version}"
        if resolved.signature is None:
            if resolved.signer_refusal is not None:
                raise NotTrusted(f"{where} was refused by the signer: {resolved.signer_refusal}")
            raise NotTrusted(f"{where} is not signed (yet): the signer has not passed it")
        trusted = self.trusted(policy)
        if not trusted:
            raise NotTrusted(f"{where}: no key in the ring is trusted for {resolved.name}")
        try:
            return check_statement(
                resolved.signature,
                trusted,
                resolved.name,
                resolved.version,
                resolved.manifest_digest,
            )
        except SignatureError as err:
            raise NotTrusted(f"{where} signature refused: {err}") from err
        except Exception as err:  # whatever else a hostile tag provokes: refused, never raised
            raise NotTrusted(f"{where} signature unreadable: {type(err).__name__}") from err

    def verify(
        self, folder: Path, resolved: ResolvedVersion, policy: TrustConfig
    ) -> VerifiedSignature:
        """The downloaded files against the trusted signature; ``SignatureRefused`` is final
        (the same bytes would fail again), ``NotTrusted`` is not."""
        found = self.statement(resolved, policy)
        try:
            return check_files(folder, found)
        except SignatureError as err:
            raise SignatureRefused(f"signature refused: {err}") from err


def allowed(
    keys: Mapping[str, ec.EllipticCurvePublicKey], policy: TrustConfig
) -> dict[str, ec.EllipticCurvePublicKey]:
    if "*" in policy.signers:
        return dict(keys)
    return {
        key_id: key
        for key_id, key in keys.items()
        if any(key_id.startswith(prefix) for prefix in policy.signers)
    }
