"""Give each service the folders it owns and copies of exactly the secrets it needs.

The operator's ``secrets/`` folder keeps everything (the CLI needs every zone's token, the
admin credentials, the CA private keys) and stays root-only. Each service gets
``zones/<role>/secrets/`` owned by its own identity: its Ray token, its registry credentials
(pointing at its own copy of the CA certificate), its TLS certificate and key, and for serve
the API key; the registry gets its auth config and Flask secret. No CA private key is ever
handed over. Without separate identities (not root) the same layout is used, under one user.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bulkhead.platform import signing_keys, zone_files
from bulkhead.platform.identity import Identities, Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.secrets import read_secret, write_secret
from bulkhead.platform.settings import PlatformSettings, Zone
from contracts.client_keys import ClientKeys
from contracts.tags import SIGNER_USER
from registry.credentials import RegistryCredentials

if TYPE_CHECKING:
    from bulkhead.platform.tls import TlsFiles

ZONE_REGISTRY_USER = {Zone.INGEST: "ingest", Zone.TRAIN: "trainer", Zone.SERVE: "server"}


class HandoverError(RuntimeError):
    """The platform's folders cannot be made reachable for the zone identities."""


def _owner(identities: Identities | None, role: Role | None) -> tuple[int, int]:
    """(uid, gid) to set: root's for ``role=None``, unchanged (-1) without identities."""
    if identities is None:
        return -1, -1
    return (0, 0) if role is None else (identities.of(role).uid, identities.of(role).gid)


def _own(path: Path, identities: Identities | None, role: Role | None, mode: int) -> None:
    """Create the folder ``path`` if missing, then set its mode and, when identities exist,
    its owner (root keeps ``role=None``): through its descriptor, never following a link."""
    uid, gid = _owner(identities, role)
    zone_files.make_dirs(path, mode, uid=uid, gid=gid)


def _own_tree(
    root: Path,
    identities: Identities | None,
    role: Role,
    dir_mode: int,
    file_mode: int,
    gid: int | None = None,
) -> None:
    uid, own_gid = _owner(identities, role)
    if gid is not None and identities is not None:
        own_gid = gid
    zone_files.make_dirs(root, dir_mode, uid=uid, gid=own_gid)
    zone_files.own_tree(root, uid, own_gid, dir_mode, file_mode)


def _traversable(folder: Path, identities: Identities | None) -> None:
    """Every folder above the platform home must let other users pass (``x``)."""
    if identities is None:
        return
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise HandoverError(
                f"{parent} is mode {oct(parent.stat().st_mode & 0o777)}: the zone users cannot "
                f"pass through it to {folder}; `chmod o+x {parent}` (the platform home itself "
                "is made 0711: others may pass, not list)"
            )


def _hand(source: Path, target: Path, identities: Identities | None, role: Role) -> None:
    """A copy of a secret, owned by ``role`` from the moment it has its name."""
    uid, gid = _owner(identities, role)
    content = read_secret(source) if source.suffix != ".pem" else source.read_text()
    write_secret(target, content, uid=uid, gid=gid)


def hand_signer(
    paths: StatePaths, identities: Identities | None, tls_files: TlsFiles | None
) -> None:
    """The signer's copy of the active signing key, its registry credentials (and the CA
    under TLS): its alone, as every zone's secrets are."""
    uid, gid = _owner(identities, Role.SIGNER)
    _, pem = signing_keys.active_key_file(paths)
    write_secret(paths.handed_signing_key, pem, uid=uid, gid=gid)
    ca_copy = None
    if tls_files is not None:
        folder = paths.handed_tls(Role.SIGNER)
        _own(folder, identities, Role.SIGNER, 0o700)
        ca_copy = folder / "ca.pem"
        _hand(tls_files.ca_cert, ca_copy, identities, Role.SIGNER)
    own = RegistryCredentials.from_file(paths.registry_credentials(SIGNER_USER))
    handed = own.model_copy(update={"ca_file": ca_copy})
    write_secret(paths.signer_credentials, handed.to_json(), uid=uid, gid=gid)


def hand_trusted_keys(paths: StatePaths, identities: Identities | None) -> None:
    """The key ring (every key not retired, public halves only) to the serve zone and the
    signer, each copy replaced in one step: a replica re-reading it mid-rotation sees the old
    ring or the new one, never half of either."""
    ring = signing_keys.ring(paths).model_dump_json(indent=1)
    for role in (Role.SERVE, Role.SIGNER):
        uid, gid = _owner(identities, role)
        write_secret(paths.handed_trusted_keys(role), ring, uid=uid, gid=gid)


def hand_client_keys(paths: StatePaths, identities: Identities | None) -> None:
    """The serve zone's copy of the client keys, replaced in one step (owner and mode set
    before the rename): a replica re-reading it never sees a half-written or unreadable file."""
    if not paths.client_keys.exists():
        write_secret(paths.client_keys, ClientKeys().model_dump_json())
    uid, gid = _owner(identities, Role.SERVE)
    write_secret(paths.handed_client_keys, read_secret(paths.client_keys), uid=uid, gid=gid)


def prepare_folders(
    settings: PlatformSettings, paths: StatePaths, identities: Identities | None
) -> None:
    """Owners and modes of every folder a service writes (idempotent; fixes older layouts)."""
    paths.home.mkdir(parents=True, exist_ok=True)
    _own(paths.home, identities, None, 0o711)
    _traversable(paths.home, identities)
    paths.zones.mkdir(exist_ok=True)
    _own(paths.zones, identities, None, 0o711)
    for role in Role:
        for folder in (
            paths.service_dir(role),
            paths.service_secrets(role),
            paths.service_home(role),
        ):
            folder.mkdir(parents=True, exist_ok=True)
            _own(folder, identities, role, 0o700)
    paths.ingest_inbox.mkdir(exist_ok=True)
    _own(paths.ingest_inbox, identities, Role.INGEST, 0o700)
    paths.artifacts.mkdir(parents=True, exist_ok=True)
    _own_tree(paths.registry_dir, identities, Role.REGISTRY, 0o700, 0o600)
    _own_tree(paths.train_runs, identities, Role.TRAIN, 0o700, 0o600)
    paths.serve_cache.mkdir(parents=True, exist_ok=True)
    _own_tree(paths.serve_cache, identities, Role.SERVE, 0o700, 0o600)
    data = paths.snapshots.parent
    data.mkdir(parents=True, exist_ok=True)
    _own(data, identities, None, 0o711)
    # Snapshots: the ingest zone writes, the train zone (group member) reads, serve cannot.
    snapshot_gid = identities.snapshot_gid if identities is not None else None
    _own_tree(paths.snapshots, identities, Role.INGEST, 0o2750, 0o640, gid=snapshot_gid)
    paths.logs.mkdir(parents=True, exist_ok=True)
    _own(paths.logs, identities, None, 0o700)
    # The platform's /tmp folder: made by root here, refused when another user made it first.
    zone_files.root_folder(paths.short_root, 0o711)
    for zone in Zone:
        temp = paths.ray_temp_dir(zone)
        if temp.parent != paths.short_root:
            _own(temp.parent, identities, None, 0o711)
        gid = identities.of(Role(zone.value)).gid if identities is not None else None
        zone_files.ray_temp_folder(temp, gid)
    _own(paths.haproxy_dir, identities, Role.SERVE, 0o700)
    serve_gid = identities.of(Role.SERVE).gid if identities is not None else None
    zone_files.make_dirs(paths.serve_etc, 0o750 if serve_gid is not None else 0o700, gid=serve_gid)
    prepare_drop(paths, identities)


def prepare_drop(paths: StatePaths, identities: Identities | None) -> None:
    """The one-way drop (drop/keeper.py): the keeper owns both folders. The inbox (its
    socket) may be passed by the serve zone's group alone; the records folder's set-gid group
    is the ingest zone's, which may read every file the keeper writes there and write none.
    The serve zone cannot enter it: it cannot read back, change or delete what it sent."""
    paths.drop.mkdir(parents=True, exist_ok=True)
    _own(paths.drop, identities, None, 0o711)
    inbox, records = paths.drop_inbox, paths.drop_records
    inbox.parent.mkdir(parents=True, exist_ok=True)
    for folder, group, mode in ((inbox, Role.SERVE, 0o710), (records, Role.INGEST, 0o2750)):
        keeper_uid = identities.of(Role.DROP).uid if identities is not None else -1
        group_gid = identities.of(group).gid if identities is not None else -1
        zone_files.make_dirs(folder, mode, uid=keeper_uid, gid=group_gid)
    if identities is not None:  # what the keeper wrote before keeps its owner and group
        keeper, reader = identities.of(Role.DROP).uid, identities.of(Role.INGEST).gid
        zone_files.own_tree(records, keeper, reader, None, None)


def write_auth_config(paths: StatePaths, admin_password: str, uid: int = -1, gid: int = -1) -> None:
    write_secret(
        paths.auth_config,
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{paths.auth_db}\n"
        "admin_username = admin\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
        # Verify each credential's scrypt hash once a minute, not on every request (~0.1 s
        # each, several per request): one worker, so MLflow's own password and user changes
        # invalidate the cache at once.
        "auth_cache_ttl_seconds = 60\n"
        "auth_cache_max_size = 1000\n",
        uid=uid,
        gid=gid,
    )


def hand_over_secrets(
    settings: PlatformSettings, paths: StatePaths, identities: Identities | None
) -> None:
    """Copy into each service's folder what it needs, and nothing else."""
    tls_files = None
    if settings.tls:
        from bulkhead.platform import tls

        tls_files = tls.files(paths)
    for zone in Zone:
        role = Role(zone.value)
        _hand(paths.ray_token(zone), paths.handed_ray_token(zone), identities, role)
        ca_copy = None
        if tls_files is not None:
            folder = paths.handed_tls(role)
            _own(folder, identities, role, 0o700)
            cert = tls_files.for_zone(zone)
            _hand(cert.cert, folder / "ray.pem", identities, role)
            _hand(cert.key, folder / "ray-key.pem", identities, role)
            _hand(tls_files.zone_ca(zone), folder / "ray-ca.pem", identities, role)
            ca_copy = folder / "ca.pem"
            _hand(tls_files.ca_cert, ca_copy, identities, role)
        own = RegistryCredentials.from_file(paths.registry_credentials(ZONE_REGISTRY_USER[zone]))
        handed = own.model_copy(update={"ca_file": ca_copy})
        uid, gid = _owner(identities, role)
        write_secret(paths.handed_registry_credentials(zone), handed.to_json(), uid=uid, gid=gid)
    _hand(paths.serve_api_key, paths.handed_api_key, identities, Role.SERVE)
    _hand(paths.request_id_key, paths.handed_request_id_key, identities, Role.SERVE)
    _hand(paths.request_id_key, paths.drop_request_id_key, identities, Role.DROP)
    hand_signer(paths, identities, tls_files)
    hand_trusted_keys(paths, identities)
    hand_client_keys(paths, identities)
    admin = RegistryCredentials.from_file(paths.registry_credentials("admin"))
    write_auth_config(paths, admin.password.get_secret_value(), *_owner(identities, Role.REGISTRY))
    uid, gid = _owner(identities, Role.REGISTRY)
    zone_files.own(paths.flask_secret, 0o600, uid, gid)
    if tls_files is not None:
        folder = paths.handed_tls(Role.REGISTRY)
        _own(folder, identities, Role.REGISTRY, 0o700)
        _hand(tls_files.registry.cert, folder / "https.pem", identities, Role.REGISTRY)
        _hand(tls_files.registry.key, folder / "https-key.pem", identities, Role.REGISTRY)
