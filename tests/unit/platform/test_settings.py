from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr, ValidationError

from bulkhead.platform.settings import PlatformSettings, TrainZoneSettings, Zone, ZonePorts

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_give_each_zone_its_own_port_block() -> None:
    settings = PlatformSettings()
    gcs = {settings.zone(z).ports.gcs for z in Zone}
    assert len(gcs) == 3
    assert settings.registry_url == "http://127.0.0.1:5000"


def test_overlapping_ports_are_refused() -> None:
    with pytest.raises(ValidationError, match="claimed by both"):
        PlatformSettings(train=TrainZoneSettings(port_base=21050))


def test_registry_port_inside_a_zone_block_is_refused() -> None:
    with pytest.raises(ValidationError, match="port 23001 is claimed"):
        PlatformSettings(registry_port=23001)


@pytest.mark.parametrize("password", ["password1234", "admin", "short"])
def test_default_or_weak_admin_passwords_are_refused(password: str) -> None:
    with pytest.raises(ValidationError, match="default or too short"):
        PlatformSettings(admin_password=SecretStr(password))


def test_env_overrides_nested_zone_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULKHEAD_SERVE__NUM_CPUS", "1.5")
    monkeypatch.setenv("BULKHEAD_REGISTRY_PORT", "5055")
    settings = PlatformSettings()
    assert settings.serve.num_cpus == 1.5
    assert settings.registry_port == 5055


def test_zone_ports_layout() -> None:
    ports = ZonePorts.from_base(30000)
    assert ports.gcs == 30000 and ports.dashboard == 30001
    assert "min_worker" not in ports.listening()
    assert len(set(ports.listening().values())) == len(ports.listening())


def test_serve_config_port_matches_the_port_up_reserves() -> None:
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    assert config["http_options"]["port"] == PlatformSettings().serve_http_port


def test_default_ports_stay_below_the_ephemeral_range() -> None:
    """Linux hands out 32768-60999 to outgoing connections; a service binding there late
    (Serve's ingress binds at deploy time) can find its port taken (seen once in CI)."""
    settings = PlatformSettings()
    ports = [settings.registry_port, settings.serve_http_port]
    for zone in Zone:
        block = settings.zone(zone).ports
        ports += [block.gcs, block.max_worker]
    assert max(ports) < 32768


def test_the_default_model_setting_and_its_former_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BULKHEAD_DEFAULT_MODEL", raising=False)
    monkeypatch.setenv("BULKHEAD_MODEL_NAME", "subjectivity")  # the name it had before
    assert PlatformSettings().default_model == "subjectivity"
    monkeypatch.setenv("BULKHEAD_DEFAULT_MODEL", "sentiment")
    monkeypatch.delenv("BULKHEAD_MODEL_NAME")
    assert PlatformSettings().default_model == "sentiment"
    assert PlatformSettings(default_model="subjectivity").model_named(None) == "subjectivity"
    monkeypatch.setenv("DEFAULT_MODEL", "subjectivity")  # unprefixed: someone else's variable
    assert PlatformSettings().default_model == "sentiment"
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        PlatformSettings().model_named("nope")
