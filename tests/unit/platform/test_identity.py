"""Per-service identities: privilege drop, folders, handed secrets and who can read what."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bulkhead.platform.identity import Identity
from bulkhead.security.audit import readable_by


def test_the_drop_prefix_leaves_no_way_back_to_root() -> None:
    prefix = Identity(name="bulkhead-serve", uid=901, gid=902, groups=(903,)).drop_prefix()
    assert prefix[0] == "setpriv" and prefix[-1] == "--"
    assert {"--reuid=901", "--regid=902", "--groups=903", "--no-new-privs"} <= set(prefix)
    assert "--inh-caps=-all" in prefix
    assert "--clear-groups" in Identity(name="x", uid=1, gid=1).drop_prefix()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other users needs root")
def test_readable_by_follows_unix_permissions(tmp_path: Path) -> None:
    for parent in [tmp_path, *tmp_path.parents]:  # pytest's folders are 0700
        parent.chmod(parent.stat().st_mode | 0o001)
    owner = Identity(name="a", uid=40001, gid=40001)
    member = Identity(name="b", uid=40002, gid=40002, groups=(40010,))
    stranger = Identity(name="c", uid=40003, gid=40003)
    folder = tmp_path / "zone"
    folder.mkdir(mode=0o750)
    os.chown(folder, owner.uid, 40010)
    folder.chmod(0o750)
    secret = folder / "token"
    secret.write_text("x")
    os.chown(secret, owner.uid, 40010)
    secret.chmod(0o600)
    assert readable_by(secret, owner)
    assert not readable_by(secret, member)  # group may pass the folder, not read the file
    secret.chmod(0o640)
    assert readable_by(secret, member)
    assert not readable_by(secret, stranger)  # cannot pass the folder at all
    folder.chmod(0o700)
    assert not readable_by(secret, member)


def test_each_service_is_handed_only_its_own_secrets(tmp_path: Path) -> None:
    from bulkhead.platform import signing_keys
    from bulkhead.platform.handover import hand_over_secrets, prepare_folders
    from bulkhead.platform.identity import Role
    from bulkhead.platform.paths import StatePaths
    from bulkhead.platform.secrets import ensure_token, write_secret
    from bulkhead.platform.settings import PlatformSettings, Zone
    from contracts import signatures
    from registry.credentials import RegistryCredentials

    paths = StatePaths.at(tmp_path / ".bulkhead")
    settings = PlatformSettings(home=paths.home)
    for zone in Zone:
        ensure_token(paths.ray_token(zone))
    ensure_token(paths.serve_api_key)
    ensure_token(paths.request_id_key)
    ensure_token(paths.flask_secret)
    signing_keys.ensure(paths)
    for user in ("admin", "ingest", "trainer", "server", "signer"):
        creds = RegistryCredentials.model_validate(
            {"tracking_uri": "http://127.0.0.1:1", "username": user, "password": f"{user}-pw"}
        )
        write_secret(paths.registry_credentials(user), creds.to_json())
    prepare_folders(settings, paths, None)
    hand_over_secrets(settings, paths, None)
    handed = {role: sorted(p.name for p in paths.service_secrets(role).iterdir()) for role in Role}
    assert handed[Role.INGEST] == ["ray.token", "registry.json"]
    assert handed[Role.TRAIN] == ["ray.token", "registry.json"]
    assert handed[Role.SERVE] == [
        "api-key",
        "client-keys.json",
        "ray.token",
        "registry.json",
        "request-id-key",
        "trusted-keys.json",
    ]
    assert handed[Role.REGISTRY] == ["flask-secret", "mlflow-auth.ini"]
    # The keeper holds one secret: the request-id key, to keep only rows the serve zone minted.
    assert handed[Role.DROP] == ["request-id-key"]
    # The signer alone holds the active signing key (and its registry credentials, and the
    # key ring: what other trusted keys signed, it re-signs after a rotation).
    assert handed[Role.SIGNER] == ["registry.json", "signing-key.pem", "trusted-keys.json"]
    # The serve zone holds public keys only: the ring, no private key.
    ring = signatures.KeyRing.read(paths.handed_trusted_keys(Role.SERVE))
    assert list(ring.public_keys()) == [signing_keys.ensure(paths)]
    assert "PRIVATE" not in paths.handed_trusted_keys(Role.SERVE).read_text()
    active = (paths.signing_keys / "active").read_text().strip()
    handed_key = paths.handed_signing_key.read_text().strip()
    assert handed_key == (paths.signing_keys / f"{active}.pem").read_text().strip()
    assert (
        signatures.key_id(signatures.load_private_key(handed_key.encode()).public_key()) == active
    )
    assert RegistryCredentials.from_file(paths.signer_credentials).username == "signer"
    server = RegistryCredentials.from_file(paths.handed_registry_credentials(Zone.SERVE))
    assert server.username == "server"
    assert "admin-pw" in paths.auth_config.read_text()  # the registry's own, 0600
    for role in Role:
        assert paths.service_secrets(role).stat().st_mode & 0o777 == 0o700
    assert paths.home.stat().st_mode & 0o777 == 0o711
    assert paths.snapshots.stat().st_mode & 0o7777 == 0o2750
    assert paths.drop_records.stat().st_mode & 0o7777 == 0o2750  # ingest's group reads
    assert paths.drop_inbox.stat().st_mode & 0o7777 == 0o710  # serve's group passes
