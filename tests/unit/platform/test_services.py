from pathlib import Path

import pytest

from bulkhead import services
from bulkhead.paths import StatePaths
from bulkhead.settings import PlatformSettings, Zone
from registry.credentials import CREDENTIALS_ENV


@pytest.fixture
def paths(tmp_path: Path) -> StatePaths:
    return StatePaths.at(tmp_path / ".bulkhead")


def test_zone_env_carries_only_its_own_secrets(
    paths: StatePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "leaked")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "someone-elses")
    monkeypatch.setenv("BULKHEAD_ADMIN_PASSWORD", "leaked-admin-password")
    env = services.zone_env(PlatformSettings(), paths, Zone.SERVE)
    assert "MLFLOW_TRACKING_PASSWORD" not in env
    assert "RAY_AUTH_TOKEN" not in env
    assert "BULKHEAD_ADMIN_PASSWORD" not in env
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["RAY_AUTH_TOKEN_PATH"].endswith("ray-serve.token")
    assert env[CREDENTIALS_ENV].endswith("registry-server.json")
    assert env["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize(
    ("zone", "user"), [(Zone.INGEST, "ingest"), (Zone.TRAIN, "trainer"), (Zone.SERVE, "server")]
)
def test_each_zone_gets_its_registry_user(paths: StatePaths, zone: Zone, user: str) -> None:
    env = services.zone_env(PlatformSettings(), paths, zone)
    assert env[CREDENTIALS_ENV].endswith(f"registry-{user}.json")


def test_zone_command_binds_only_its_block_on_loopback(paths: StatePaths) -> None:
    settings = PlatformSettings()
    cmd = services.zone_command(settings, paths, Zone.TRAIN)
    assert "--block" in cmd and "--head" in cmd
    assert "--node-ip-address=127.0.0.1" in cmd and "--dashboard-host=127.0.0.1" in cmd
    ports = [int(a.split("=")[1]) for a in cmd if a.endswith(tuple("0123456789")) and "port" in a]
    assert ports and all(22000 <= p < 22200 for p in ports)
    assert any(a.startswith("--temp-dir=") for a in cmd)


def test_registry_runs_one_worker_with_basic_auth(paths: StatePaths) -> None:
    cmd = services.registry_command(PlatformSettings(), paths)
    assert cmd[cmd.index("--workers") + 1] == "1"
    assert cmd[cmd.index("--app-name") + 1] == "basic-auth"
    assert cmd[cmd.index("--backend-store-uri") + 1].startswith("sqlite:///")


def test_auth_config_denies_by_default(paths: StatePaths) -> None:
    services.write_auth_config(paths, "a-generated-password")
    text = paths.auth_config.read_text()
    assert "default_permission = NO_PERMISSIONS" in text
    assert paths.auth_config.stat().st_mode & 0o777 == 0o600


def test_long_home_gets_a_short_ray_temp_dir(tmp_path: Path) -> None:
    deep = StatePaths.at(tmp_path / ("x" * 80) / ".bulkhead")
    temp = deep.ray_temp_dir(Zone.SERVE)
    assert len(str(temp)) < 60 and temp.name == "serve"


def test_only_the_train_zone_runs_workers_at_normal_priority(paths: StatePaths) -> None:
    settings = PlatformSettings()
    assert services.zone_env(settings, paths, Zone.TRAIN)["RAY_worker_niceness"] == "0"
    assert "RAY_worker_niceness" not in services.zone_env(settings, paths, Zone.SERVE)
