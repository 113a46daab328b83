"""The platform that `up` starts: every zone and the registry, running and locked down."""

from __future__ import annotations

import time

import httpx
import pytest

from bulkhead.platform.settings import Zone
from bulkhead.platform.state import PlatformState
from tests.utils.platform import TestPlatform

pytestmark = pytest.mark.integration


def test_status_json_reports_every_zone_and_the_registry(platform: TestPlatform) -> None:
    status = platform.cli_json("status")
    assert status["registry_state"] == "running"
    assert status["mlflow_url"] == "http://127.0.0.1:15500"
    assert status["serve_url"] == "http://127.0.0.1:18500"
    assert status["model_name"] == "sentiment"
    # None on a fresh platform; other modules of the session may have trained one already.
    assert status["champion_version"] is None or status["champion_version"].isdigit()
    assert status["api_key_file"].endswith("secrets/serve-api-key")
    assert set(status["zones"]) == {"ingest", "train", "serve"}
    for name, zone in status["zones"].items():
        assert zone["state"] == "running", name
        assert zone["pid"] is not None
    assert status["zones"]["serve"]["address"] == "127.0.0.1:26000"


def test_second_up_reuses_what_runs(platform: TestPlatform) -> None:
    before = PlatformState.load(platform.paths.state_file)
    started = time.monotonic()
    done = platform.cli("up", "--no-pipeline")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "already running" in done.stderr
    after = PlatformState.load(platform.paths.state_file)
    assert after.registry and before.registry
    assert after.registry.process == before.registry.process
    assert {z: s.process for z, s in after.zones.items()} == {
        z: s.process for z, s in before.zones.items()
    }
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("zone", list(Zone))
def test_each_cluster_accepts_only_its_own_token(platform: TestPlatform, zone: Zone) -> None:
    state = PlatformState.load(platform.paths.state_file)
    url = f"{state.zones[zone].dashboard_url}/api/version"
    own = platform.paths.ray_token(zone).read_text().strip()
    other_zone = Zone.SERVE if zone is not Zone.SERVE else Zone.TRAIN
    other = platform.paths.ray_token(other_zone).read_text().strip()
    assert own != other
    assert httpx.get(url, headers={"Authorization": f"Bearer {own}"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {other}"}).status_code in {401, 403}
    assert httpx.get(url).status_code in {401, 403}


def _registry(platform: TestPlatform, user: str | None) -> httpx.Client:
    auth = (user, platform.password(user)) if user else None
    return httpx.Client(base_url=f"http://127.0.0.1:{platform.registry_port}", auth=auth)


def test_registry_users_have_least_privilege(platform: TestPlatform) -> None:
    model = {"name": "sentiment"}
    alias = {"name": "sentiment", "alias": "champion", "version": "1"}
    with _registry(platform, None) as anonymous:
        got = anonymous.get("/api/2.0/mlflow/registered-models/get", params=model)
        assert got.status_code == 401
    with _registry(platform, "server") as server:
        assert server.get("/api/2.0/mlflow/registered-models/get", params=model).status_code == 200
        denied = [
            server.post("/api/2.0/mlflow/registered-models/alias", json=alias),
            server.post(
                "/api/2.0/mlflow/model-versions/create",
                json={"name": "sentiment", "source": "models:/x"},
            ),
            server.request("DELETE", "/api/2.0/mlflow/registered-models/delete", json=model),
            server.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "1"}),
        ]
        assert [r.status_code for r in denied] == [403, 403, 403, 403]
    # MLflow's basic-auth lets any user create experiments and models (and MANAGE them);
    # the registry's bulkhead-auth app refuses that to every zone user.
    for user in ("server", "trainer", "ingest"):
        with _registry(platform, user) as zone_user:
            created = [
                zone_user.post("/api/2.0/mlflow/registered-models/create", json={"name": user}),
                zone_user.post("/api/2.0/mlflow/experiments/create", json={"name": user}),
                zone_user.post("/ajax-api/2.0/mlflow/experiments/create", json={"name": user}),
            ]
            assert [r.status_code for r in created] == [403, 403, 403], user
            assert "admins only" in created[0].text
    with _registry(platform, "ingest") as ingest:
        assert ingest.get("/api/2.0/mlflow/registered-models/get", params=model).status_code == 403
    with _registry(platform, "trainer") as trainer:
        tag = {"name": "sentiment", "key": "bulkhead.owner", "value": "train-zone"}
        assert (
            trainer.post("/api/2.0/mlflow/registered-models/set-tag", json=tag).status_code == 200
        )


def test_every_secret_file_is_owner_only(platform: TestPlatform) -> None:
    secrets = list(platform.paths.secrets.iterdir())
    assert len(secrets) >= 9
    for file in secrets:
        assert file.stat().st_mode & 0o077 == 0, file
    assert platform.paths.secrets.stat().st_mode & 0o777 == 0o700


def test_cost_reports_every_service_and_mlflows_job_runner_is_off(
    platform: TestPlatform,
) -> None:
    cost = platform.cli_json("cost", "--seconds", "3")
    services = {s["service"]: s for s in cost["services"]}
    assert set(services) >= {"registry", "ingest zone", "train zone", "serve zone"}
    assert set(services) >= {"drop keeper", "rollout controller"}  # all `up` started
    assert all(s["processes"] > 0 and s["pss_mb"] > 0 for s in services.values())
    assert cost["pss_mb"] == pytest.approx(sum(s["pss_mb"] for s in services.values()), abs=5)
    print(
        f"\nidle platform: {cost['cpu_machine_pct']}% of {cost['cores']} cores, "
        f"{cost['pss_mb']:.0f} MB PSS; "
        + ", ".join(f"{n} {s['processes']} procs {s['pss_mb']:.0f} MB" for n, s in services.items())
    )
    state = PlatformState.load(platform.paths.state_file)
    assert state.registry is not None
    from bulkhead.platform.procs import session_members

    commands = []
    for proc in session_members(state.registry.process.pid):
        try:
            commands.append(" ".join(proc.cmdline()))
        except Exception:
            continue
    assert not [c for c in commands if "huey" in c or "mlflow.server.jobs" in c], commands
