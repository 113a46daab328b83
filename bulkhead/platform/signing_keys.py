"""The operator's model-signing keys: made once by `up`, held in root's secrets folder.

Why here and not in the signer: the signer gets a copy of the one active key (it cannot
change which key is active, nor read a retired one), and the serve zone will get public keys
only. ``secrets/signing/<key id>.pem`` (0600) per key, ``active`` naming the one in use.
"""

from __future__ import annotations

from bulkhead.platform.paths import StatePaths
from bulkhead.platform.secrets import ensure_secret_dir, read_secret, write_secret
from contracts import signatures

ACTIVE = "active"


class SigningKeyError(RuntimeError):
    """The signing keys on disk are not what `up` left there; the message says which."""


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
    """Every key's public half by key id: what serving may be told to trust."""
    found = {}
    for file in sorted(paths.signing_keys.glob("*.pem")):
        key = signatures.load_private_key(read_secret(file).encode())
        found[signatures.key_id(key.public_key())] = signatures.public_pem(key.public_key())
    return found
