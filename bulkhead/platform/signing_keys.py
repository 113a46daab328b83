"""The operator's model-signing keys: made once by `up`, held in root's secrets folder.

Why here and not in the signer: the signer gets a copy of the one active key (it cannot
change which key is active, nor read a retired one), and the serve zone gets public keys only
(the key ring). ``secrets/signing/<key id>.pem`` (0600) per key, ``active`` naming the one in
use, ``retired/`` the keys the operator retired (kept: `bulkhead verify` still names them).

A rotation (`bulkhead signing rotate`) makes a new active key while the old one stays in the
ring, so nothing served stops; retiring the old key (`bulkhead signing retire`) takes it out
of the ring, and whatever only it signed stops being served: only when the operator says so.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from bulkhead.platform.paths import StatePaths
from bulkhead.platform.secrets import ensure_secret_dir, read_secret, write_secret
from contracts import signatures

ACTIVE = "active"
RETIRED = "retired"


class SigningKeyError(RuntimeError):
    """The signing keys on disk are not what `up` left there; the message says which."""


class SigningKey(BaseModel):
    """One key as `bulkhead signing keys` lists it."""

    key_id: str
    state: str = Field(description="active (signs), trusted (in the ring only) or retired")
    created_at: str = Field(description="When its file was written (UTC, ISO 8601).")


def ensure(paths: StatePaths) -> str:
    """The active key's id, made on first use."""
    folder = paths.signing_keys
    ensure_secret_dir(folder)
    if (folder / ACTIVE).exists():
        active = read_secret(folder / ACTIVE).strip()
        if not (folder / f"{active}.pem").is_file():
            raise SigningKeyError(f"{folder / ACTIVE} names key {active}, which is not there")
        return active
    return _new_key(paths)


def _new_key(paths: StatePaths) -> str:
    key = signatures.new_private_key()
    key_id = signatures.key_id(key.public_key())
    write_secret(paths.signing_keys / f"{key_id}.pem", signatures.private_pem(key).decode())
    write_secret(paths.signing_keys / ACTIVE, key_id + "\n")
    return key_id


def active_key_file(paths: StatePaths) -> tuple[str, str]:
    """(key id, private PEM) of the active key."""
    key_id = ensure(paths)
    return key_id, read_secret(paths.signing_keys / f"{key_id}.pem")


def public_keys(paths: StatePaths) -> dict[str, bytes]:
    """Every key not retired, public half by key id: what the serve zone trusts."""
    found = {}
    for file in sorted(paths.signing_keys.glob("*.pem")):
        key = signatures.load_private_key(read_secret(file).encode())
        found[signatures.key_id(key.public_key())] = signatures.public_pem(key.public_key())
    return found


def retired_public_keys(paths: StatePaths) -> dict[str, bytes]:
    """Retired keys' public halves: `bulkhead verify` names a signature by one, never
    calls it valid."""
    found = {}
    for file in sorted((paths.signing_keys / RETIRED).glob("*.pem")):
        key = signatures.load_private_key(read_secret(file).encode())
        found[signatures.key_id(key.public_key())] = signatures.public_pem(key.public_key())
    return found


def ring(paths: StatePaths) -> signatures.KeyRing:
    """The key ring handed to the serve zone and the signer."""
    return signatures.KeyRing(keys={k: pem.decode() for k, pem in public_keys(paths).items()})


def listing(paths: StatePaths) -> list[SigningKey]:
    active = ensure(paths)
    rows = []
    for folder, state in ((paths.signing_keys, "trusted"), (paths.signing_keys / RETIRED, RETIRED)):
        for file in sorted(folder.glob("*.pem"), key=lambda f: f.stat().st_mtime):
            key_id = file.stem
            created = datetime.fromtimestamp(file.stat().st_mtime, UTC).isoformat(
                timespec="seconds"
            )
            rows.append(
                SigningKey(
                    key_id=key_id, state="active" if key_id == active else state, created_at=created
                )
            )
    return rows


def rotate(paths: StatePaths) -> tuple[str, str]:
    """(old, new): a new active key; the old one stays trusted until retired."""
    old = ensure(paths)
    return old, _new_key(paths)


def match(paths: StatePaths, prefix: str) -> str:
    """The one key id (not retired) that starts with ``prefix``."""
    found = [k for k in public_keys(paths) if k.startswith(prefix.lower())]
    if len(prefix) < 8 or len(found) != 1:
        raise SigningKeyError(
            f"{prefix!r} names {len(found)} trusted keys; give 8 or more characters of one "
            "(`bulkhead signing keys` lists them)"
        )
    return found[0]


def retire(paths: StatePaths, key_id: str) -> None:
    """Take a key out of the ring (kept under ``retired/``); never the active one."""
    if key_id == ensure(paths):
        raise SigningKeyError(
            f"key {key_id[:12]} is the active one: `bulkhead signing rotate` first"
        )
    ensure_secret_dir(paths.signing_keys / RETIRED)
    os.replace(paths.signing_keys / f"{key_id}.pem", paths.signing_keys / RETIRED / f"{key_id}.pem")
