import json
import subprocess
from pathlib import Path

import pytest

from bulkhead.platform import haproxy_wrapper, services
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.settings import PlatformSettings, Zone
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
    # The zone's own handed copies, in its own folder: never the operator's files.
    assert env["RAY_AUTH_TOKEN_PATH"] == str(paths.handed_ray_token(Zone.SERVE))
    assert env[CREDENTIALS_ENV] == str(paths.handed_registry_credentials(Zone.SERVE))
    assert env["BULKHEAD_SERVE_API_KEY_FILE"] == str(paths.handed_api_key)
    assert not any(str(paths.secrets) + "/" in value for value in env.values())
    assert env["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize(
    ("zone", "user"), [(Zone.INGEST, "ingest"), (Zone.TRAIN, "trainer"), (Zone.SERVE, "server")]
)
def test_each_zone_gets_its_registry_user(paths: StatePaths, zone: Zone, user: str) -> None:
    from bulkhead.platform.handover import ZONE_REGISTRY_USER

    env = services.zone_env(PlatformSettings(), paths, zone)
    assert env[CREDENTIALS_ENV] == str(paths.handed_registry_credentials(zone))
    assert ZONE_REGISTRY_USER[zone] == user


def test_zone_command_binds_only_its_block_on_loopback(paths: StatePaths) -> None:
    settings = PlatformSettings()
    cmd = services.zone_command(settings, paths, Zone.TRAIN)
    assert "--block" in cmd and "--head" in cmd
    assert "--node-ip-address=127.0.0.1" in cmd and "--dashboard-host=127.0.0.1" in cmd
    ports = [int(a.split("=")[1]) for a in cmd if a.endswith(tuple("0123456789")) and "port" in a]
    assert ports and all(22000 <= p < 22200 for p in ports)
    assert any(a.startswith("--temp-dir=") for a in cmd)


def test_registry_runs_one_worker_with_bulkhead_auth(paths: StatePaths) -> None:
    cmd = services.registry_command(PlatformSettings(), paths)
    assert cmd[cmd.index("--workers") + 1] == "1"
    assert cmd[cmd.index("--app-name") + 1] == "bulkhead-auth"
    assert cmd[cmd.index("--backend-store-uri") + 1].startswith("sqlite:///")


def test_auth_config_denies_by_default(paths: StatePaths) -> None:
    from bulkhead.platform.handover import write_auth_config

    write_auth_config(paths, "a-generated-password")
    text = paths.auth_config.read_text()
    assert "default_permission = NO_PERMISSIONS" in text
    assert paths.auth_config.stat().st_mode & 0o777 == 0o600


def test_long_home_gets_a_short_ray_temp_dir(tmp_path: Path) -> None:
    deep = StatePaths.at(tmp_path / ("x" * 80) / ".bulkhead")
    temp = deep.ray_temp_dir(Zone.SERVE)
    assert len(str(temp)) < 60 and temp.name == "serve"


def test_train_and_serve_workers_run_at_normal_priority(paths: StatePaths) -> None:
    settings = PlatformSettings()
    assert services.zone_env(settings, paths, Zone.TRAIN)["RAY_worker_niceness"] == "0"
    assert services.zone_env(settings, paths, Zone.SERVE)["RAY_worker_niceness"] == "0"
    assert "RAY_worker_niceness" not in services.zone_env(settings, paths, Zone.INGEST)


def test_every_zone_process_knows_its_own_cluster_address(paths: StatePaths) -> None:
    """Ray Train's placement-group cleaner asks Ray's state API with no address; with three
    clusters on one machine it died at once ("Found multiple active Ray instances")."""
    settings = PlatformSettings()
    for zone in Zone:
        env = services.zone_env(settings, paths, zone)
        assert env["RAY_ADDRESS"] == f"127.0.0.1:{settings.zone(zone).ports.gcs}"


def test_serve_zone_runs_haproxy_on_its_own_ports_and_files(paths: StatePaths) -> None:
    settings = PlatformSettings()
    env = services.zone_env(settings, paths, Zone.SERVE)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert Path(env["RAY_SERVE_HAPROXY_BINARY_PATH"]) == paths.serve_etc / "haproxy"
    block = range(settings.serve.port_base, settings.serve.port_base + 100)
    for key in (
        "RAY_SERVE_HAPROXY_STATS_PORT",
        "RAY_SERVE_HAPROXY_METRICS_PORT",
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT",
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT",
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT",
    ):
        assert int(env[key]) in block, key
    for key in ("RAY_SERVE_HAPROXY_SOCKET_PATH", "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"):
        assert Path(env[key]).parent == paths.haproxy_dir
    # HAProxy refuses admin socket paths over 97 bytes; Ray adds a 56-character folder.
    assert len(str(paths.haproxy_dir)) + 1 + 56 + len("/admin.sock") <= 97
    # No other zone gets any of it.
    assert not any(
        k.startswith("RAY_SERVE_") for k in services.zone_env(settings, paths, Zone.TRAIN)
    )


def test_serve_zone_can_fall_back_to_rays_python_proxy(paths: StatePaths) -> None:
    settings = PlatformSettings.model_validate({"serve": {"haproxy_ingress": False}})
    env = services.zone_env(settings, paths, Zone.SERVE)
    assert "RAY_SERVE_ENABLE_HA_PROXY" not in env


def test_the_serve_zone_gets_its_key_and_cache_under_the_contract_names(
    paths: StatePaths,
) -> None:
    """Serving reads these names from contracts.env; the zone must set exactly those."""
    from contracts import env as names
    from serving.config import ServeAppConfig

    env = services.zone_env(PlatformSettings(), paths, Zone.SERVE)
    assert env[names.SERVE_API_KEY_FILE] == str(paths.handed_api_key)
    assert env[names.SERVE_CACHE_DIR] == str(paths.serve_cache)
    assert ServeAppConfig().api_key_file_env == names.SERVE_API_KEY_FILE


def test_zone_environments_are_built_from_an_allow_list(monkeypatch, tmp_path) -> None:
    """Operator variables (cloud keys, hub tokens, tracking credentials) never reach a zone."""
    from bulkhead.platform import services
    from bulkhead.platform.paths import StatePaths
    from bulkhead.platform.settings import PlatformSettings, Zone

    leaks = {
        "AWS_SECRET_ACCESS_KEY": "aws",
        "HF_TOKEN": "hf",
        "MLFLOW_TRACKING_PASSWORD": "pw",
        "GITHUB_TOKEN": "gh",
        "SOME_OPERATOR_SECRET": "s",
        "PYTHONPATH": "/tmp/evil",
        "LD_PRELOAD": "/tmp/evil.so",
    }
    for key, value in leaks.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    settings = PlatformSettings(home=tmp_path)
    paths = StatePaths.at(tmp_path)
    for zone in Zone:
        env = services.zone_env(settings, paths, zone)
        assert not set(leaks) & set(env), zone
        assert env["LC_ALL"] == "C.UTF-8" and env["OPENBLAS_CORETYPE"] == "Haswell"
        assert env["HF_HUB_OFFLINE"] == "1"


def test_haproxy_stats_and_metrics_are_rebound_to_loopback(tmp_path, paths: StatePaths) -> None:
    """Ray's template binds both on every interface without auth; the wrapper Serve runs
    as its HAProxy rewrites exactly those two lines before it execs the real binary."""
    from tests.utils.haproxy import config_after_wrapper

    settings = PlatformSettings()
    ports = settings.serve.ingress_ports
    script = services.haproxy_loopback_wrapper(settings.serve, paths)
    stdout = config_after_wrapper(
        script,
        f"listen stats\n  bind *:{ports.haproxy_stats}\n"
        f"frontend prometheus\n    bind :{ports.haproxy_metrics}\n"
        "frontend http_frontend\n    bind *:8000\n",
        tmp_path,
    )
    assert f"bind 127.0.0.1:{ports.haproxy_stats}" in stdout
    assert f"bind 127.0.0.1:{ports.haproxy_metrics}" in stdout
    assert "bind *:8000" in stdout  # the ingress is Serve's http_options' business


RAY_DEFAULTS = """defaults
    mode http
    log global
    option httplog
    option abortonclose
    option splice-request
    option splice-response
    option redispatch 1
    retry-on conn-failure empty-response
"""


def test_every_request_waits_for_its_body_so_a_dying_replicas_request_is_retried(
    tmp_path: Path, paths: StatePaths
) -> None:
    """Without `option http-buffer-request` HAProxy forwards headers before the body, holds
    no whole copy, and cannot retry a request a killed replica left unanswered. Holding the
    body makes HAProxy the first to see a trickled one, so the same rewrite gives it the
    body deadline and a JSON 408."""
    from tests.utils.haproxy import config_after_wrapper

    settings = PlatformSettings().serve
    script = services.haproxy_loopback_wrapper(settings, paths)
    once = config_after_wrapper(script, RAY_DEFAULTS, tmp_path)
    lines = [line.strip() for line in once.splitlines()]
    errorfile = paths.serve_etc / haproxy_wrapper.REQUEST_TIMEOUT_ERRORFILE
    start = lines.index("option abortonclose") + 1
    assert lines[start : start + 3] == [
        "option http-buffer-request",
        f"timeout http-request {settings.request_timeout_s}s",
        f"errorfile 408 {errorfile}",
    ]
    assert lines.count("option http-buffer-request") == 1
    assert "    option http-buffer-request\n" in once  # the block's own indentation
    twice = config_after_wrapper(script, once, tmp_path)  # a config rewritten already
    assert twice == once
    # HAProxy itself accepts the result, with the 408 answer the wrapper's writer leaves.
    paths.haproxy_dir.mkdir(parents=True, exist_ok=True)
    services.write_request_timeout_errorfile(settings, paths, None)
    cfg = tmp_path / "checked.cfg"
    cfg.write_text(
        once + "frontend f\n    bind 127.0.0.1:18999\n    default_backend b\nbackend b\n"
    )
    checked = subprocess.run(
        [haproxy_wrapper.haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_408_haproxy_sends_is_json_with_the_deadline() -> None:
    answer = haproxy_wrapper.request_timeout_response(10)
    head, body = answer.split("\r\n\r\n")
    assert head.startswith("HTTP/1.1 408 ")
    assert "Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}" in head
    assert json.loads(body) == {"detail": "request not received whole within 10 s"}


def test_the_registry_runs_without_mlflows_job_runner(paths: StatePaths) -> None:
    """MLflow 3 otherwise starts a job runner and Huey consumers (~1.2 GB) nothing uses."""
    from bulkhead.platform.secrets import ensure_secret_dir, write_secret

    ensure_secret_dir(paths.secrets)
    write_secret(paths.flask_secret, "s" * 32)
    env = services.registry_env(paths)
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    # One registry process: writes drop its cached alias answers, so they may live 30 s.
    assert env["BULKHEAD_REGISTRY_ALIAS_CACHE_S"] == "30"


def test_a_zones_temporary_files_stay_inside_its_ray_folder(monkeypatch, paths: StatePaths) -> None:
    """A killed zone process leaves multiprocessing's pymp-* folders behind: inside the
    zone's own Ray folder (removed by `down --purge`), never in the shared /tmp, whatever
    TMPDIR the operator runs with."""
    from bulkhead.platform import serve_nodes

    monkeypatch.setenv("TMPDIR", "/tmp")
    for zone in Zone:
        tmp = services.zone_env(PlatformSettings(), paths, zone)["TMPDIR"]
        assert tmp == str(paths.ray_temp_dir(zone))
        assert len(tmp) + len("/pymp-12345678/listener-12345678") < 107  # AF_UNIX
    node = serve_nodes.worker_env(PlatformSettings(), paths, 1)["TMPDIR"]
    assert node == str(serve_nodes.worker_temp_dir(paths, 1))


def test_the_serve_zone_exports_its_metrics_as_often_as_the_setting_says(
    paths: StatePaths,
) -> None:
    """Ray's 10-s export made every rollout step hold ~10 s past its length, waiting for the
    figures it is judged on; the serve zone's processes export every 2 s by default."""
    from bulkhead.platform.settings import ServeZoneSettings

    env = services.zone_env(PlatformSettings(), paths, Zone.SERVE)
    assert env["RAY_metrics_report_interval_ms"] == "2000"
    slower = PlatformSettings(serve=ServeZoneSettings(metrics_export_s=5))
    assert services.zone_env(slower, paths, Zone.SERVE)["RAY_metrics_report_interval_ms"] == "5000"
    assert slower.serve.metrics_settle_s == 11
    assert "RAY_metrics_report_interval_ms" not in services.zone_env(slower, paths, Zone.TRAIN)


def test_no_service_sends_mlflow_telemetry() -> None:
    from bulkhead.platform.services import clean_env

    env = clean_env()
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true" and env["DO_NOT_TRACK"] == "true"
