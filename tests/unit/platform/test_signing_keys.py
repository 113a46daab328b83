"""The operator's signing keys (Covers: bulkhead/platform/signing_keys.py): made once, kept
root-only, the active one named, public halves derivable for the serve zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkhead.platform import signing_keys
from bulkhead.platform.paths import StatePaths
from contracts import signatures


def test_a_key_is_made_once_and_kept(tmp_path: Path) -> None:
    paths = StatePaths.at(tmp_path / ".bulkhead")
    first = signing_keys.ensure(paths)
    assert signing_keys.ensure(paths) == first  # the next `up` keeps it
    assert (paths.signing_keys.stat().st_mode & 0o777) == 0o700
    assert ((paths.signing_keys / f"{first}.pem").stat().st_mode & 0o777) == 0o600
    key_id, pem = signing_keys.active_key_file(paths)
    key = signatures.load_private_key(pem.encode())
    assert key_id == first == signatures.key_id(key.public_key())
    public = signing_keys.public_keys(paths)
    assert list(public) == [first] and b"PRIVATE" not in public[first]


def test_an_active_file_naming_a_missing_key_is_an_error(tmp_path: Path) -> None:
    paths = StatePaths.at(tmp_path / ".bulkhead")
    first = signing_keys.ensure(paths)
    (paths.signing_keys / f"{first}.pem").unlink()
    with pytest.raises(signing_keys.SigningKeyError, match="which is not there"):
        signing_keys.ensure(paths)
