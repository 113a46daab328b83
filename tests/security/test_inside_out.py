"""The inside-out class on the live platform: each zone, as its own Unix identity, plants
links at the paths the operator's next `bulkhead up` writes, chmods or chowns in that zone's
own folders, pointing at a canary file and a canary folder outside the platform; then the
operator runs `up`. Every canary must be unchanged (content, mode, owner): the zone gains
nothing from root's next command. (Found by review: `up` wrote secrets through a fixed
`<name>.tmp` a zone could link anywhere, and chmodded a zone's HOME following a link, so
`ln -s /usr zones/ingest/home` made the next `up` chmod /usr 0700.)

Each path root writes is listed from the code (bulkhead/platform/handover.py, secrets.py,
services.py): the handed secrets' temporary names, each zone's HOME. The serve zone's HAProxy
files are no longer written into serve-owned folders at all (etc-serve is root's), which
tests/unit/platform/test_zone_files.py proves with the same canaries.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkhead.platform.identity import Role
from bulkhead.platform.jobs import run_job
from bulkhead.platform.procs import stop_session
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import PlatformState
from tests.security.zone_attacks import RESULT_PREFIX
from tests.utils.platform import TestPlatform

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0,
        reason="per-zone Unix identities need `up` as root",
    ),
]

ATTACKS = Path(__file__).with_name("zone_attacks.py")


@pytest.fixture
def canaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Outside the platform, where every zone may pass (a link needs no access to its target)."""
    root = Path("/tmp") / f"inside-out-canary-{os.getpid()}"
    root.mkdir(mode=0o755)
    file, folder = root / "file", root / "folder"
    file.write_text("canary")
    file.chmod(0o644)
    folder.mkdir(mode=0o755)
    try:
        yield file, folder
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _seen(path: Path) -> tuple[str, int, int, int]:
    st = os.stat(path)
    content = path.read_text() if path.is_file() else ",".join(sorted(os.listdir(path)))
    return content, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def _plant(
    platform: TestPlatform, state: PlatformState, zone: Zone, links: dict[str, str]
) -> dict[str, str]:
    spec = base64.b64encode(json.dumps({"plant": links}).encode()).decode()
    outcome = run_job(
        state.zones[zone],
        f"{sys.executable} {ATTACKS} {spec}",
        on_line=lambda line: None,
        timeout_s=120,
        submission_prefix=f"plant-{zone.value}",
    )
    assert outcome.result is not None, outcome.log_tail
    assert outcome.result["uid"] == state.identities.of(Role(zone.value)).uid  # type: ignore[union-attr]
    return {row["target"]: row["outcome"] for row in outcome.result["results"]}


def _plant_as(state: PlatformState, role: Role, links: dict[str, str]) -> dict[str, str]:
    """As a service that runs no Ray (the registry, the drop keeper): the same attack script,
    run as that identity exactly as `up` starts the service (setpriv, no capabilities)."""
    assert state.identities is not None
    identity = state.identities.of(role)
    spec = base64.b64encode(json.dumps({"plant": links}).encode()).decode()
    done = subprocess.run(
        [*identity.drop_prefix(), sys.executable, str(ATTACKS), spec],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX))
    result = json.loads(line[len(RESULT_PREFIX) :])
    assert result["uid"] == identity.uid
    return {row["target"]: row["outcome"] for row in result["results"]}


def test_links_a_zone_plants_gain_it_nothing_from_the_operators_next_up(
    platform: TestPlatform, canaries: tuple[Path, Path]
) -> None:
    file, folder = canaries
    before = {file: _seen(file), folder: _seen(folder)}
    state = PlatformState.load(platform.paths.state_file)
    assert state.identities is not None
    paths = platform.paths
    homes_aside: list[Path] = []
    print("\ninside-out: links each zone planted before the operator's `up`")
    for zone in Zone:
        role = Role(zone.value)
        secrets = paths.service_secrets(role)
        links = {
            str(secrets / "ray.token.tmp"): str(file),  # the fixed temp name `up` used
            str(secrets / "registry.json.tmp"): str(file),
        }
        if zone is Zone.INGEST:  # `ln -s <folder> zones/ingest/home`: `up` chmodded it 0700
            links[str(paths.service_home(role))] = str(folder)
            homes_aside.append(paths.service_home(role))
        planted = _plant(platform, state, zone, links)
        for link, outcome in planted.items():
            print(f"  {zone.value:>8} {link:<90} {outcome}")
        assert set(planted.values()) == {"planted"}, planted
    # The services without a Ray cluster: the temporary names of what `up` hands them.
    for role, names in (
        (Role.REGISTRY, ("mlflow-auth.ini.tmp", "registry.json.tmp")),
        (Role.DROP, ("request-id-key.tmp",)),
        (Role.SIGNER, ("signing-key.pem.tmp", "registry.json.tmp")),
    ):
        links = {str(paths.service_secrets(role) / name): str(file) for name in names}
        planted = _plant_as(state, role, links)
        for link, outcome in planted.items():
            print(f"  {role.value:>8} {link:<90} {outcome}")
        assert set(planted.values()) == {"planted"}, planted
    # The zone that planted also kills its own processes: the next `up` starts it again and
    # makes every start-time write (its Ray folder, its handed files) once more.
    stop_session(state.zones[Zone.TRAIN].process)
    print("  train zone's processes killed before the operator's `up`")
    try:
        up = platform.cli("up", "--no-pipeline", timeout=300)
        print(f"  operator `up`: exit {up.returncode}; {up.stderr.strip()[-300:]}")
        assert {file: _seen(file), folder: _seen(folder)} == before, "a canary changed"
        # A linked HOME is refused with its path named, never followed.
        assert up.returncode != 0 and str(paths.service_home(Role.INGEST)) in up.stderr
        for zone in Zone:  # every handed secret written again is the zone's own file
            token = paths.handed_ray_token(zone)
            st = os.stat(token, follow_symlinks=False)
            assert (
                stat.S_ISREG(st.st_mode) and st.st_uid == state.identities.of(Role(zone.value)).uid
            )
    finally:  # the operator's fix: the link removed, the real HOME back, `up` again
        for home in homes_aside:
            if home.is_symlink():
                home.unlink()
            aside = home.with_name(home.name + ".aside")
            if aside.is_dir():
                aside.rename(home)
    again = platform.cli("up", "--no-pipeline", timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    restarted = PlatformState.load(paths.state_file).zones[Zone.TRAIN].process
    assert restarted.pid != state.zones[Zone.TRAIN].process.pid  # started again, for real
    print(f"  canaries after both `up`s: {before == {file: _seen(file), folder: _seen(folder)}}")
    # The `up` that laid every folder out and handed every secret over again, through the
    # links planted at the old temporary names: nothing written through them either.
    assert {file: _seen(file), folder: _seen(folder)} == before
    for zone in Zone:
        for name in ("ray.token.tmp", "registry.json.tmp"):
            (paths.service_secrets(Role(zone.value)) / name).unlink(missing_ok=True)
    for role, name in (
        (Role.REGISTRY, "mlflow-auth.ini.tmp"),
        (Role.REGISTRY, "registry.json.tmp"),
        (Role.DROP, "request-id-key.tmp"),
        (Role.SIGNER, "signing-key.pem.tmp"),
        (Role.SIGNER, "registry.json.tmp"),
    ):
        (paths.service_secrets(role) / name).unlink(missing_ok=True)


def test_a_tmp_folder_another_user_made_first_stops_up_before_anything_starts(
    platform: TestPlatform, canaries: tuple[Path, Path], tmp_path: Path
) -> None:
    """Another local user (here `nobody`) creates the platform's `/tmp/bulkhead-<key>` before
    the operator's first `up`, with a link inside where `up` would make the serve zone's
    folder. `up` refuses, names the folder, starts nothing, and neither the canary behind the
    link nor the other user's folder changes. (Found by review: the folder was accepted as it
    was, so its maker controlled what root later wrote in it.)"""
    import pwd

    from bulkhead.platform.paths import StatePaths

    file, folder = canaries
    before = {file: _seen(file), folder: _seen(folder)}
    home = tmp_path / "fresh" / ".bulkhead"
    home.parent.mkdir()
    taken = StatePaths.at(home).short_root
    nobody = pwd.getpwnam("nobody")
    taken.mkdir(mode=0o755)
    try:
        (taken / "serve").symlink_to(folder)
        os.chown(taken / "serve", nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
        os.chown(taken, nobody.pw_uid, nobody.pw_gid)
        # Ports of its own: were anything to start, it could not take the session's. (Built
        # as the session's platform is: the home's parents are made passable for the zones.)
        fresh = TestPlatform(home=home, registry_port=27900, serve_http_port=27910, port_base=28000)
        up = fresh.cli("up", "--no-pipeline", timeout=300)
        print(f"\npre-made /tmp folder: `up` exit {up.returncode}: {up.stderr.strip()[-300:]}")
        assert up.returncode != 0
        said = " ".join(up.stderr.split())  # the console wraps long lines
        assert str(taken) in said and "another user made it first" in said
        state = PlatformState.load(StatePaths.at(home).state_file)
        assert state.registry is None and not state.zones and not state.processes
        assert {file: _seen(file), folder: _seen(folder)} == before
        assert os.stat(taken).st_uid == nobody.pw_uid and (taken / "serve").is_symlink()
    finally:
        shutil.rmtree(taken, ignore_errors=True)
        shutil.rmtree(tmp_path / "fresh", ignore_errors=True)
