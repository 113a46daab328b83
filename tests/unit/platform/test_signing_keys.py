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


def test_a_rotation_keeps_the_old_key_trusted_until_it_is_retired(tmp_path: Path) -> None:
    paths = StatePaths.at(tmp_path / ".bulkhead")
    old, new = signing_keys.rotate(paths)
    assert signing_keys.ensure(paths) == new != old
    assert sorted(signing_keys.ring(paths).public_keys()) == sorted([old, new])
    states = {row.key_id: row.state for row in signing_keys.listing(paths)}
    assert states == {old: "trusted", new: "active"}
    with pytest.raises(signing_keys.SigningKeyError, match="active one"):
        signing_keys.retire(paths, new)
    with pytest.raises(signing_keys.SigningKeyError, match="names 0 trusted keys"):
        signing_keys.match(paths, "00000000")
    assert signing_keys.match(paths, old[:8]) == old
    signing_keys.retire(paths, old)
    assert list(signing_keys.ring(paths).public_keys()) == [new]
    assert list(signing_keys.retired_public_keys(paths)) == [old]
    states = {row.key_id: row.state for row in signing_keys.listing(paths)}
    assert states == {old: "retired", new: "active"}
    with pytest.raises(signing_keys.SigningKeyError, match="names 0 trusted keys"):
        signing_keys.match(paths, old[:12])  # retired: no longer a key to act on
