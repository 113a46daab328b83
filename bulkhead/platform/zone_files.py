"""The one way the operator's commands (root) touch a path a zone can write.

A zone owns folders under the platform's home and its ``/tmp`` folder (its Ray folders, its
home, its secrets, HAProxy's state). Whatever root writes, chmods or chowns *by path* in such
a folder, a zone can redirect by planting a link there first: ``hx/haproxy ->
/etc/ld.so.preload`` turned the next ``bulkhead up`` into root writing that file for the serve
zone. So nothing here takes a path at its word:

- a folder is opened one component at a time, each with ``O_NOFOLLOW``; a link is followed
  only where no other user could have planted it (in a folder only root or the operator may
  write, or a root-owned link in a sticky folder such as ``/tmp``); anything else that is a
  link is refused with an error naming the path;
- a file is created under a fresh random name with ``O_CREAT|O_EXCL|O_NOFOLLOW`` relative to
  that folder's descriptor, given its owner and mode with ``fchown``/``fchmod`` on the open
  descriptor, and renamed over the target within the same folder (a link planted at the
  target is replaced, never followed);
- an existing entry is opened with ``O_NOFOLLOW`` and changed through its descriptor; a file
  with more than one hard link is refused (it may be another file's second name).

Files a zone only reads are better kept out of zone-owned folders altogether
(``StatePaths.zone_etc``): these functions are then a second lock, not the only one.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

log = logging.getLogger("bulkhead.platform")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# Walking needs only the right to pass (x), not to list: O_PATH descriptors serve as the
# folder of every *at() call.
_WALK_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_ENTRY_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class ZoneFileError(RuntimeError):
    """A path root was about to touch is a link, a hard link, or owned by someone it should
    not be: refused, with the path named."""


class HardLinked(ZoneFileError):
    """A file with a second name (it may be another user's file)."""


def _trusted(uid: int) -> bool:
    return uid in (0, os.getuid())


def _may_follow(container: os.stat_result, link: os.stat_result) -> bool:
    """A link may be followed only where no untrusted user could have put it."""
    if not _trusted(container.st_uid):
        return False
    if not container.st_mode & 0o022:
        return True
    return bool(container.st_mode & stat.S_ISVTX) and _trusted(link.st_uid)


def _step(fd: int, name: str, path: Path) -> int:
    """Open ``name`` in the folder ``fd`` as a folder (closing ``fd``)."""
    try:
        try:
            return os.open(name, _WALK_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
        except OSError as err:
            if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            entry = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISLNK(entry.st_mode):
                raise ZoneFileError(f"{path}: {name!r} is not a folder") from err
            if not _may_follow(os.fstat(fd), entry):
                raise ZoneFileError(
                    f"{path}: {name!r} is a link in a folder another user can write; refused "
                    "(a zone may have planted it: remove it and run the command again)"
                ) from err
            return os.open(name, _WALK_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)


def open_dir(path: Path) -> int:
    """A descriptor of the folder ``path``, reached without following an untrusted link."""
    absolute = Path(os.path.abspath(path))
    fd = os.open("/", _WALK_FLAGS)
    for name in absolute.parts[1:]:
        fd = _step(fd, name, absolute)
    return fd


@contextmanager
def folder(path: Path) -> Iterator[int]:
    fd = open_dir(path)
    try:
        yield fd
    finally:
        os.close(fd)


def _set(fd: int, uid: int | None, gid: int | None, mode: int | None) -> None:
    if uid is not None or gid is not None:
        os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
    if mode is not None:
        os.fchmod(fd, mode)


def write_file(
    path: Path,
    data: bytes | str,
    mode: int,
    uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` in one rename: owner and mode are set on the new file
    before it has its name, so it is never, even briefly, readable by anyone else."""
    content = data.encode() if isinstance(data, str) else data
    _replace(path, mode, uid, gid, iter((content,)))


def copy_file(
    source: Path, path: Path, mode: int, uid: int | None = None, gid: int | None = None
) -> None:
    """``write_file`` for a file of any size: copied in chunks, never whole in memory."""
    with source.open("rb") as reading:
        _replace(path, mode, uid, gid, iter(lambda: reading.read(1 << 20), b""))


def _replace(
    path: Path, mode: int, uid: int | None, gid: int | None, chunks: Iterator[bytes]
) -> None:
    with folder(path.parent) as parent:
        temp = f".{path.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600, dir_fd=parent)
        try:
            _set(fd, uid, gid, mode)
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(temp, dir_fd=parent)
            raise
        os.close(fd)
        os.replace(temp, path.name, src_dir_fd=parent, dst_dir_fd=parent)


def make_dir(path: Path, mode: int, uid: int | None = None, gid: int | None = None) -> None:
    """Create ``path`` (its parents must exist) or take the folder that is there, and set its
    owner and mode through its descriptor; a link or a file in its place is refused."""
    with folder(path.parent) as parent:
        with suppress(FileExistsError):
            os.mkdir(path.name, 0o700, dir_fd=parent)
        try:
            fd = os.open(path.name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                raise ZoneFileError(f"{path} is a link or a file, not a folder; refused") from err
            raise
        try:
            _set(fd, uid, gid, mode)
        finally:
            os.close(fd)


def make_dirs(path: Path, mode: int, uid: int | None = None, gid: int | None = None) -> None:
    """``make_dir`` for ``path``; missing parents are created root's (0711)."""
    missing = []
    for parent in Path(os.path.abspath(path)).parents:
        if os.path.lexists(parent):
            break
        missing.append(parent)
    for parent in reversed(missing):
        make_dir(parent, 0o711)
    make_dir(path, mode, uid, gid)


def _own_entry(parent: int, name: str, path: Path, uid: int, gid: int, mode: int | None) -> None:
    entry = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if stat.S_ISLNK(entry.st_mode):
        return  # a link is the zone's own business; never followed
    if not (stat.S_ISREG(entry.st_mode) or stat.S_ISDIR(entry.st_mode)):
        # Sockets and pipes cannot be opened safely: their owner is set relative to the held
        # folder's descriptor, never following the name (no path root walks, no link).
        os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
        return
    fd = os.open(name, _ENTRY_FLAGS, dir_fd=parent)
    try:
        # Checked on what was opened, not on what the name showed a moment before: the entry
        # may have been swapped in between (for a hard link to another user's file).
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (entry.st_dev, entry.st_ino):
            raise ZoneFileError(f"{path} changed while it was being opened; refused")
        if stat.S_ISREG(opened.st_mode) and opened.st_nlink > 1:
            raise HardLinked(f"{path} has {opened.st_nlink} hard links; refused")
        _set(fd, uid, gid, mode)
    finally:
        os.close(fd)


def own(path: Path, mode: int | None, uid: int = -1, gid: int = -1) -> None:
    """Set the owner and mode of an existing file or folder through its descriptor."""
    with folder(path.parent) as parent:
        entry = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISLNK(entry.st_mode):
            raise ZoneFileError(f"{path} is a link; refused")
        _own_entry(parent, path.name, path, uid, gid, mode)


def own_tree(path: Path, uid: int, gid: int, dir_mode: int | None, file_mode: int | None) -> None:
    """Owner and modes of a whole tree, walked through descriptors: links are skipped, never
    followed, and no folder of the tree can be swapped for a link while it is walked."""
    own(path, dir_mode, uid, gid)
    with folder(path.parent) as parent:
        top = os.open(path.name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
    try:
        _own_below(top, path, uid, gid, dir_mode, file_mode)
    finally:
        os.close(top)


def _own_below(
    fd: int, path: Path, uid: int, gid: int, dir_mode: int | None, file_mode: int | None
) -> None:
    for entry in os.scandir(fd):
        below = path / entry.name
        if entry.is_dir(follow_symlinks=False):
            _own_entry(fd, entry.name, below, uid, gid, dir_mode)
            child = os.open(entry.name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            try:
                _own_below(child, below, uid, gid, dir_mode, file_mode)
            finally:
                os.close(child)
        else:
            try:
                _own_entry(fd, entry.name, below, uid, gid, file_mode)
            except HardLinked as err:
                # Left as it is: a zone cannot stop `up` by linking one of its own files.
                log.warning("%s", err)


def root_folder(path: Path, mode: int) -> None:
    """A folder root creates for the platform in a place every user may write (``/tmp``):
    made by us, or refused when another user made it first (they would own what is in it)."""
    if not os.path.lexists(path.parent):
        make_dirs(path.parent, 0o711)
    with folder(path.parent) as parent:
        with suppress(FileExistsError):
            os.mkdir(path.name, 0o700, dir_fd=parent)
        entry = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
        if not stat.S_ISDIR(entry.st_mode):
            raise ZoneFileError(f"{path} is not a folder (a link or a file); refused")
        if entry.st_uid != os.getuid():
            raise ZoneFileError(
                f"{path} belongs to uid {entry.st_uid}, not to this platform's operator: "
                "another user made it first, and would control what is in it; remove it "
                "and run the command again"
            )
        fd = os.open(path.name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)


def hand_to_zone(path: Path, data: bytes | str, gid: int | None, executable: bool = False) -> None:
    """A file a zone only reads (or runs): root's, readable by the zone's group alone, in a
    root-owned folder the zone may enter but not write (made here when missing). Without
    zone identities (``gid`` None) owner-only."""
    shared = gid is not None
    make_dirs(path.parent, 0o750 if shared else 0o700, gid=gid)
    mode = (0o750 if executable else 0o640) if shared else (0o700 if executable else 0o600)
    write_file(path, data, mode, gid=gid)


def ray_temp_folder(path: Path, gid: int | None) -> None:
    """A zone's Ray temp folder: root's, the zone's group, 0770. Ray, running as the zone,
    chmods its temp, session, log and socket folders to 0777 on every start (and ignores
    EPERM on a folder it does not own), so the wall is this folder, which Ray cannot open up:
    the zone's own processes work inside it, and no other zone can enter it to create, rename
    or delete anything (sockets included). Without zone identities (``gid`` None): 0700."""
    make_dirs(
        path, 0o770 if gid is not None else 0o700, uid=0 if gid is not None else None, gid=gid
    )


def remove_root_folder(path: Path) -> bool:
    """Remove a folder ``root_folder`` made, with all that is in it; a link, or a folder
    another user owns, is left alone. (``shutil.rmtree`` removes through descriptors, never
    following a link inside.)"""
    import shutil

    try:
        entry = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(entry.st_mode) or entry.st_uid != os.getuid():
        return False
    shutil.rmtree(path, ignore_errors=True)
    return not os.path.lexists(path)


def read_file(path: Path) -> bytes:
    return read_file_stat(path)[1]


def read_file_stat(path: Path) -> tuple[os.stat_result, bytes]:
    """A regular file's status and bytes, reached without following a link a zone could
    have planted (a secret root reads from a zone's folder must not become another file of
    root's); the status is the opened file's own."""
    with folder(path.parent) as parent:
        try:
            fd = os.open(path.name, _ENTRY_FLAGS, dir_fd=parent)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise ZoneFileError(f"{path} is a link; refused") from err
            raise
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ZoneFileError(f"{path} is not a regular file; refused")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return status, b"".join(chunks)
    finally:
        os.close(fd)
