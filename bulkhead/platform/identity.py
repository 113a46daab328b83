"""One Unix identity per zone and one for the registry: walls that hold beyond the network.

When ``bulkhead up`` runs as root, each service runs as its own unprivileged system user
(``bulkhead-ingest``, ``bulkhead-train``, ``bulkhead-serve``, ``bulkhead-registry``), created
on first use, with no login shell and no home. A compromised process in one zone then cannot
read another zone's secrets, the operator's (registry admin password, CA private keys), or
signal another zone's processes, whatever the network allows. Privileges are dropped with
``setpriv`` as the last step before the service's own command, after any ``ip netns exec``,
so nothing a zone runs keeps root; ``--no-new-privs`` stops it from regaining any through a
set-uid program.

The payload drop is the other: only the drop keeper (``bulkhead-drop``) writes it; its folder's
set-gid group is the ingest user's, so the ingest zone reads it; the serve zone reaches the
keeper's socket (a folder of the serve user's group) and nothing else of it.

Snapshots are the first hand-off through the file system: the ingest user owns the snapshot
folder, whose group ``bulkhead-snapshots`` (set-gid, so every new file inherits it) the train
user is a member of; the serve user is not, so it can read neither snapshots nor checkpoints.

Not root: the services run as the operator, one identity for all; ``up`` and ``status`` say so.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    """Whoever runs processes of their own."""

    REGISTRY = "registry"
    INGEST = "ingest"
    TRAIN = "train"
    SERVE = "serve"
    # The drop keeper (drop/keeper.py): the one writer of the serve -> ingest drop.
    DROP = "drop"
    # The model signer (signer/): the one identity that can read the signing key.
    SIGNER = "signer"


SNAPSHOT_GROUP = "bulkhead-snapshots"
# Files a service creates: never readable by "others"; its group only where a folder's
# set-gid group says so (the snapshots).
SERVICE_UMASK = 0o027


class IdentityError(RuntimeError):
    """A zone user could not be created or found; the message says what to do."""


class Identity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...] = Field(default=(), description="Supplementary groups.")

    def drop_prefix(self) -> list[str]:
        """The command prefix that becomes this identity (for good) before the service."""
        groups = ",".join(str(g) for g in self.groups)
        return [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            f"--groups={groups}" if groups else "--clear-groups",
            "--inh-caps=-all",
            "--no-new-privs",
            "--",
        ]


class Identities(BaseModel):
    """The identity of each role, and the group that may read snapshots."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: dict[Role, Identity]
    snapshot_gid: int

    def of(self, role: Role) -> Identity:
        return self.roles[role]

    def role_of_uid(self, uid: int) -> Role | None:
        return next((role for role, ident in self.roles.items() if ident.uid == uid), None)


def user_name(role: Role) -> str:
    return f"bulkhead-{role.value}"


def _ensure_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        _run(["groupadd", "--system", name])
        return grp.getgrnam(name).gr_gid


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        gid = _ensure_group(name)
        _run(
            [
                "useradd",
                "--system",
                "--gid",
                str(gid),
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ]
        )
        return pwd.getpwnam(name)


def _run(cmd: list[str]) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError as err:
        raise IdentityError(f"{cmd[0]} is not installed; it creates the zone users") from err
    if done.returncode != 0:
        raise IdentityError(f"{' '.join(cmd)} failed: {done.stderr.strip()[:300]}")


def separate_identities_possible() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def ensure() -> Identities | None:
    """Create (once) and return every role's identity; None when not root."""
    if not separate_identities_possible():
        return None
    if shutil.which("setpriv") is None:
        raise IdentityError("setpriv (util-linux) is not installed; it drops each zone's root")
    snapshot_gid = _ensure_group(SNAPSHOT_GROUP)
    roles = {}
    for role in Role:
        entry = _ensure_user(user_name(role))
        # Train learns from snapshots; the signer measures each version on one again.
        groups = (snapshot_gid,) if role in (Role.TRAIN, Role.SIGNER) else ()
        roles[role] = Identity(
            name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups
        )
    identities = Identities(roles=roles, snapshot_gid=snapshot_gid)
    _check_interpreter_reachable(identities.of(Role.SERVE))
    return identities


def _check_interpreter_reachable(identity: Identity) -> None:
    """Every service runs this venv's Python: its interpreter and standard library must be
    readable by the zone users (a pyenv Python under /root is not)."""
    import sys

    probe = [*identity.drop_prefix(), sys.executable, "-c", "import json, sqlite3, ssl"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise IdentityError(
            f"the zone users cannot run {sys.executable} ({done.stderr.strip()[-200:]}): "
            "rebuild the virtual environment from a Python every user may read "
            "(`make clean install` uses /usr/bin/python3.11), or run `up` without root"
        )
