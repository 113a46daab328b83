"""Secret files: generated once, written owner-only (0600), never printed or logged."""

from __future__ import annotations

import secrets
from pathlib import Path

from bulkhead.platform import zone_files

_SECRET_FILE_MODE = 0o600
_SECRET_DIR_MODE = 0o700
# Bits a secret file must not carry: anything for "others", and group write/execute. Group
# read is tolerated because Kubernetes secret volumes with an ``fsGroup`` come out 0440 (the
# only way a non-root pod can read them); the local platform writes 0600 regardless.
UNSAFE_SECRET_BITS = 0o037


class SecretFileError(RuntimeError):
    """A secret file exists but is unsafe or unreadable."""


def ensure_secret_dir(path: Path) -> None:
    zone_files.make_dirs(path, _SECRET_DIR_MODE)


def write_secret(path: Path, content: str, uid: int = -1, gid: int = -1) -> None:
    """Write ``content`` so that it is never, even briefly, readable by others: a fresh file
    (``O_EXCL|O_NOFOLLOW``, a random name) given its owner and mode before it is renamed into
    place, so a link planted in a zone's secrets folder redirects nothing
    (bulkhead/platform/zone_files.py)."""
    ensure_secret_dir(path.parent)
    zone_files.write_file(path, content, _SECRET_FILE_MODE, uid=uid, gid=gid)


def read_secret(path: Path) -> str:
    """Read a secret file, refusing one that others can read (it may have leaked), and a link
    (some secrets root reads lie in a zone's folder: a link there must not make root read,
    and hand over, another of its files)."""
    try:
        status, content = zone_files.read_file_stat(path)
    except FileNotFoundError as err:
        raise SecretFileError(f"secret file {path} is missing; run `bulkhead up`") from err
    except zone_files.ZoneFileError as err:
        raise SecretFileError(str(err)) from err
    mode = status.st_mode & 0o777
    if mode & UNSAFE_SECRET_BITS:
        raise SecretFileError(
            f"secret file {path} has mode {oct(mode)}; it must be readable by its owner only "
            "(or its group, as Kubernetes mounts secrets)"
        )
    return content.decode().strip()


def ensure_token(path: Path, nbytes: int = 32) -> str:
    """Return the token in ``path``, generating it on first use."""
    if path.exists():
        return read_secret(path)
    token = secrets.token_urlsafe(nbytes)
    write_secret(path, token)
    return token
