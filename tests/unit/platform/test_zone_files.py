"""Inside-out attacks on the operator's file operations: a zone plants links (and hard links)
at every path root later writes, chmods or chowns, then the operator's code runs, and every
canary outside the platform must be unchanged (content, mode, owner).

The zone is played by uid/gid 65534 (nobody): what matters is who owns the folder a link is
in, not who planted it. Real identities and a real `bulkhead up` are exercised in
tests/security/test_walls.py."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkhead.platform import handover, services, zone_files
from bulkhead.platform.identity import Identities, Identity, Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.secrets import write_secret
from bulkhead.platform.settings import PlatformSettings, Zone

ZONE = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to play a zone's owner")


class Canaries:
    """A file and a folder outside the platform, and what they must still be afterwards."""

    def __init__(self, root: Path) -> None:
        self.file = root / "canary-file"
        self.folder = root / "canary-folder"
        self.file.write_text("canary")
        os.chmod(self.file, 0o600)
        self.folder.mkdir()
        os.chmod(self.folder, 0o755)
        self.before = self._seen()

    def _seen(self) -> list[tuple[str, int, int, int, tuple[str, ...]]]:
        file, folder = os.stat(self.file), os.stat(self.folder)
        return [
            (self.file.read_text(), file.st_mode, file.st_uid, file.st_gid, ()),
            ("", folder.st_mode, folder.st_uid, folder.st_gid, tuple(os.listdir(self.folder))),
        ]

    def unchanged(self) -> bool:
        return self._seen() == self.before


@pytest.fixture
def canaries(tmp_path: Path) -> Canaries:
    outside = tmp_path / "outside"
    outside.mkdir()
    return Canaries(outside)


def _zone_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, ZONE, ZONE)
    os.chmod(path, 0o700)
    return path


def test_a_link_planted_where_root_writes_redirects_nothing(
    tmp_path: Path, canaries: Canaries
) -> None:
    zone = _zone_folder(tmp_path / "zone")
    os.symlink(canaries.file, zone / "secret")
    os.symlink(canaries.file, zone / "secret.tmp")  # the fixed temp name root once used
    write_secret(zone / "secret", "new", uid=ZONE, gid=ZONE)
    assert canaries.unchanged()
    written = os.stat(zone / "secret", follow_symlinks=False)
    assert stat.S_ISREG(written.st_mode) and written.st_uid == ZONE
    assert written.st_mode & 0o777 == 0o600 and (zone / "secret").read_text() == "new"


def test_a_linked_folder_is_refused_not_followed(tmp_path: Path, canaries: Canaries) -> None:
    zone = _zone_folder(tmp_path / "zone")
    os.symlink(canaries.folder, zone / "secrets")
    with pytest.raises(zone_files.ZoneFileError, match="link"):
        write_secret(zone / "secrets" / "token", "x")
    with pytest.raises(zone_files.ZoneFileError, match="link"):
        zone_files.make_dir(zone / "secrets", 0o700, uid=ZONE, gid=ZONE)
    # `ln -s /usr zones/ingest/home` once made the next `up` chmod /usr to 0700.
    with pytest.raises(zone_files.ZoneFileError, match="link"):
        zone_files.own(zone / "secrets", 0o700, ZONE, ZONE)
    assert canaries.unchanged()


def test_a_hard_link_and_links_inside_a_tree_are_never_owned(
    tmp_path: Path, canaries: Canaries
) -> None:
    tree = _zone_folder(tmp_path / "cache")
    (tree / "deep").mkdir()
    os.symlink(canaries.file, tree / "deep" / "file-link")
    os.symlink(canaries.folder, tree / "folder-link")
    zone_files.own_tree(tree, ZONE, ZONE, 0o700, 0o600)
    assert canaries.unchanged()
    assert os.stat(tree / "deep").st_uid == ZONE
    # A second name of another file: skipped in a tree (a zone cannot stop `up` by linking
    # one of its own files), refused when named.
    os.link(canaries.file, tree / "hard")
    zone_files.own_tree(tree, ZONE, ZONE, 0o700, 0o600)
    with pytest.raises(zone_files.ZoneFileError, match="hard links"):
        zone_files.own(tree / "hard", 0o600, ZONE, ZONE)
    os.unlink(tree / "hard")
    assert canaries.unchanged()


def test_a_secret_root_reads_from_a_zones_folder_is_never_a_link(
    tmp_path: Path, canaries: Canaries
) -> None:
    from bulkhead.platform.secrets import SecretFileError, read_secret

    zone = _zone_folder(tmp_path / "registry-secrets")
    os.symlink(canaries.file, zone / "flask-secret")  # would hand root's file to the zone
    with pytest.raises(SecretFileError, match="link"):
        read_secret(zone / "flask-secret")


def test_a_platform_tmp_folder_another_user_made_first_is_refused(tmp_path: Path) -> None:
    taken = _zone_folder(tmp_path / "bulkhead-x")
    with pytest.raises(zone_files.ZoneFileError, match="another user made it first"):
        zone_files.root_folder(taken, 0o711)
    os.symlink(tmp_path, tmp_path / "bulkhead-y")
    with pytest.raises(zone_files.ZoneFileError, match="not a folder"):
        zone_files.root_folder(tmp_path / "bulkhead-y", 0o711)
    zone_files.root_folder(tmp_path / "bulkhead-z", 0o711)
    made = os.stat(tmp_path / "bulkhead-z")
    assert made.st_uid == 0 and made.st_mode & 0o777 == 0o711


def _identities() -> Identities:
    def one(role: Role, uid: int) -> Identity:
        return Identity(name=f"bulkhead-{role.value}", uid=uid, gid=uid)

    roles = {role: one(role, 60000 + n) for n, role in enumerate(Role)}
    return Identities(roles=roles, snapshot_gid=60100)


@pytest.fixture
def platform_paths(tmp_path: Path) -> Iterator[tuple[PlatformSettings, StatePaths]]:
    settings = PlatformSettings(home=tmp_path / "home" / "a-long-enough-folder-name" / ".bh")
    for folder in (tmp_path, *tmp_path.parents):  # zone users pass through to the home
        if folder.stat().st_uid == 0 and not folder.stat().st_mode & 0o001:
            os.chmod(folder, folder.stat().st_mode | 0o001)
    paths = StatePaths.at(settings.home)
    yield settings, paths
    import shutil

    shutil.rmtree(paths.short_root, ignore_errors=True)


def test_a_zone_that_plants_links_in_its_folders_gains_nothing_from_the_next_up(
    platform_paths: tuple[PlatformSettings, StatePaths], canaries: Canaries
) -> None:
    """The whole class: after a first `up` laid the folders out, the serve zone (owner of
    hx/ and lb/, its secrets and home) and every other zone plant links at each path root
    writes there; the folders are laid out again, the serve zone's HAProxy files and
    secrets written again: every canary is unchanged, and no file root wrote for a zone is
    in a folder that zone can write."""
    settings, paths = platform_paths
    identities = _identities()
    handover.prepare_folders(settings, paths, identities)
    serve = identities.of(Role.SERVE)
    planted: list[Path] = []
    for name in (
        "haproxy",
        "haproxy-n1",
        "408.http",
        "504.http",
        "tls-terminator.pem",
        "balancer.cfg",
    ):
        for folder in (paths.haproxy_dir, paths.haproxy_dir.parent / "lb"):
            folder.mkdir(exist_ok=True)
            os.chown(folder, serve.uid, serve.gid)
            os.symlink(canaries.file, folder / name)
            planted.append(folder / name)
    for role in Role:
        secrets = paths.service_secrets(role)
        for name in ("ray.token", "ray.token.tmp", "registry.json", "client-keys.json"):
            if not (secrets / name).exists():
                os.symlink(canaries.file, secrets / name)
        for name in ("f", "f2"):
            os.symlink(canaries.folder, paths.service_home(role) / name)
    handover.prepare_folders(settings, paths, identities)
    services.write_haproxy_wrapper(settings.serve, paths, node=1, gid=serve.gid)
    balancer_cfg = paths.serve_etc / "balancer.cfg"
    zone_files.hand_to_zone(balancer_cfg, "global\n", serve.gid)
    assert canaries.unchanged()
    for path in (
        paths.serve_etc / "haproxy-n1",
        paths.serve_etc / "408.http",
        paths.serve_etc / "504.http",
        balancer_cfg,
    ):
        written = os.stat(path, follow_symlinks=False)
        assert stat.S_ISREG(written.st_mode) and written.st_uid == 0, path
        assert written.st_gid == serve.gid and not written.st_mode & 0o027, path
    etc = os.stat(paths.serve_etc)
    assert etc.st_uid == 0 and etc.st_mode & 0o777 == 0o750
    assert all(p.is_symlink() for p in planted)  # left alone, never written through


def test_each_zones_ray_folder_is_closed_to_every_other_zone(
    platform_paths: tuple[PlatformSettings, StatePaths],
) -> None:
    """Ray chmods its temp, session, log and socket folders 0777 on every start; the wall is
    the zone's temp folder itself: root's, the zone's group, 0770, which Ray (not its owner)
    cannot open up."""
    settings, paths = platform_paths
    identities = _identities()
    handover.prepare_folders(settings, paths, identities)
    for zone in Zone:
        temp = os.stat(paths.ray_temp_dir(zone))
        assert temp.st_uid == 0 and temp.st_gid == identities.of(Role(zone.value)).gid
        assert temp.st_mode & 0o777 == 0o770
        for other in Zone:
            if other is not zone:
                assert temp.st_gid != identities.of(Role(other.value)).gid


def test_purge_removes_the_tmp_folder_it_made_and_never_another_users(tmp_path: Path) -> None:
    ours = tmp_path / "bulkhead-ours"
    zone_files.root_folder(ours, 0o711)
    (ours / "lb").mkdir()
    os.symlink("/etc", ours / "lb" / "planted")
    assert zone_files.remove_root_folder(ours) and not ours.exists()
    assert Path("/etc/passwd").exists()
    theirs = _zone_folder(tmp_path / "bulkhead-theirs")
    assert not zone_files.remove_root_folder(theirs) and theirs.exists()
    os.symlink(tmp_path, tmp_path / "bulkhead-link")
    assert not zone_files.remove_root_folder(tmp_path / "bulkhead-link") and tmp_path.exists()
