"""Attacks on the running platform, each of which must be refused.

Every test here tries what a compromised zone, a stolen zone credential or an anonymous
client would try, against the session's real platform, and prints what it tried and what
came back. The same attacks from inside each zone, as its own Unix identity, are in
test_zone_identities.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.utils.platform import Served, TestPlatform

pytestmark = [pytest.mark.integration]

OUTCOMES: list[tuple[str, str, str]] = []


def _registry(platform: TestPlatform, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{platform.registry_port}",
        auth=(user, platform.password(user)),
        timeout=15,
    )


def _record(attacker: str, attempt: str, status: int) -> int:
    OUTCOMES.append((attacker, attempt, str(status)))
    print(f"{attacker:>10} | {attempt:<70} | {status}")
    # 401: no or wrong credentials; 403: known but not allowed; 200: the allowed controls.
    # Anything else (a 500, a 404 from a route that moved) fails the attempt that saw it.
    assert status in (401, 403, 200), f"{attacker}: {attempt} answered {status}"
    return status


def _champion_artifact_path(platform: TestPlatform, served: Served) -> tuple[str, str]:
    """(version, proxied artifact path of the champion's bundle/model.onnx)."""
    with _registry(platform, "server") as server:
        got = server.get(
            "/api/2.0/mlflow/registered-models/alias",
            params={"name": "sentiment", "alias": "champion"},
        )
        assert got.status_code == 200, got.text
        mv = got.json()["model_version"]
        run = server.get("/api/2.0/mlflow/runs/get", params={"run_id": mv["run_id"]}).json()
    root = run["run"]["info"]["artifact_uri"]  # mlflow-artifacts:/<experiment>/<run>/artifacts
    return mv["version"], f"{root.split(':', 1)[1].lstrip('/')}/bundle/model.onnx"


def test_no_other_zone_can_replace_the_champions_files(
    platform: TestPlatform, served: Served
) -> None:
    """The ingest and serve users once had EDIT/READ on the experiment holding the champion's
    run; MLflow lets experiment EDIT write any run's artefacts there."""
    version, path = _champion_artifact_path(platform, served)
    for user in ("ingest", "server"):
        with _registry(platform, user) as client:
            put = client.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}", content=b"evil")
            assert _record(user, f"PUT champion v{version} {path[-40:]}", put.status_code) == 403
            deleted = client.delete(f"/api/2.0/mlflow-artifacts/artifacts/{path}")
            assert _record(user, "DELETE champion's model.onnx", deleted.status_code) == 403


def test_a_versions_pinned_manifest_digest_cannot_be_changed(
    platform: TestPlatform, served: Served
) -> None:
    version, _ = _champion_artifact_path(platform, served)
    tag = {"name": "sentiment", "version": version, "key": "bulkhead.manifest_sha256"}
    for user in ("trainer", "ingest", "server"):
        with _registry(platform, user) as client:
            changed = client.post(
                "/api/2.0/mlflow/model-versions/set-tag", json={**tag, "value": "0" * 64}
            )
            assert _record(user, "set-tag manifest digest", changed.status_code) == 403
            removed = client.request(
                "DELETE", "/api/2.0/mlflow/model-versions/delete-tag", json=tag
            )
            assert _record(user, "delete-tag manifest digest", removed.status_code) == 403


CREATIONS = [
    ("POST", "/api/2.0/mlflow/experiments/create", {"name": "x-exp"}),
    ("POST", "/api/2.0/mlflow/registered-models/create", {"name": "x-model"}),
    ("POST", "/api/2.0/mlflow/webhooks", {"name": "x", "url": "http://127.0.0.1:9/x"}),
    ("POST", "/api/3.0/mlflow/logged-models", {"experiment_id": "1", "name": "x"}),
    ("POST", "/api/3.0/mlflow/datasets/create", {"name": "x", "experiment_ids": ["1"]}),
    ("POST", "/api/2.0/mlflow/registered-models/rename", {"name": "sentiment", "new_name": "y"}),
    ("DELETE", "/api/2.0/mlflow/registered-models/delete", {"name": "sentiment"}),
    ("DELETE", "/api/2.0/mlflow/model-versions/delete", {"name": "sentiment", "version": "1"}),
    ("POST", "/api/2.0/mlflow/runs/delete", {"run_id": "0" * 32}),
    ("POST", "/ajax-api/2.0/mlflow/experiments/create", {"name": "x-ajax"}),
]


@pytest.mark.parametrize("user", ["ingest", "trainer", "server"])
def test_zone_users_can_create_or_delete_nothing_in_the_registry(
    platform: TestPlatform, user: str
) -> None:
    with _registry(platform, user) as client:
        for method, route, body in CREATIONS:
            status = client.request(method, route, json=body).status_code
            assert _record(user, f"{method} {route}", status) == 403, route


def test_no_zone_writes_another_zones_experiment(platform: TestPlatform) -> None:
    with _registry(platform, "admin") as admin:
        ids = {
            name: admin.get(
                "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}
            ).json()["experiment"]["experiment_id"]
            for name in ("bulkhead", "bulkhead-ingest")
        }
    attempts = [("ingest", ids["bulkhead"]), ("trainer", ids["bulkhead-ingest"])]
    attempts += [("server", ids["bulkhead"]), ("server", ids["bulkhead-ingest"])]
    for user, experiment in attempts:
        with _registry(platform, user) as client:
            created = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": experiment})
            assert _record(
                user, f"runs/create in experiment {experiment}", created.status_code
            ) in (403,)


def test_the_alias_poll_route_answers_only_whom_mlflow_lets_read_the_model(
    platform: TestPlatform, served: Served
) -> None:
    """The registry's cheap poll route (registry/alias_poll.py) must refuse exactly what
    MLflow's own alias call refuses: no credentials, a wrong password, a user without read
    permission on the model (ingest); and answer the serve zone's user."""
    from contracts.registry_api import ALIAS_POLL_ROUTE

    query = {"name": "sentiment", "alias": "champion"}
    base = f"http://127.0.0.1:{platform.registry_port}"
    anonymous = httpx.get(base + ALIAS_POLL_ROUTE, params=query).status_code
    assert _record("anonymous", f"GET {ALIAS_POLL_ROUTE}", anonymous) == 401
    wrong = httpx.get(base + ALIAS_POLL_ROUTE, params=query, auth=("server", "x" * 32))
    assert _record("server?", f"GET {ALIAS_POLL_ROUTE} wrong password", wrong.status_code) == 401
    with _registry(platform, "ingest") as ingest:
        refused = ingest.get(ALIAS_POLL_ROUTE, params=query).status_code
        assert _record("ingest", f"GET {ALIAS_POLL_ROUTE}", refused) == 403
        # The control: MLflow's own call refuses ingest as well.
        assert (
            ingest.get("/api/2.0/mlflow/registered-models/alias", params=query).status_code == 403
        )
    with _registry(platform, "server") as server:
        answer = server.get(ALIAS_POLL_ROUTE, params=query)
        assert answer.status_code == 200, answer.text
        native = server.get("/api/2.0/mlflow/registered-models/alias", params=query).json()
        assert answer.json()["version"] == native["model_version"]["version"]
        assert answer.json()["run_id"] == native["model_version"]["run_id"]
        same = server.get(
            ALIAS_POLL_ROUTE, params=query, headers={"If-None-Match": answer.headers["etag"]}
        )
        assert same.status_code == 304 and same.content == b""


def test_only_the_signer_and_admins_may_watch_when_the_registry_is_written(
    platform: TestPlatform,
) -> None:
    """The changes route (registry/alias_poll.py) tells its caller whenever any registry write
    passed: when training and promotions happen. Found by review: any authenticated user,
    every zone included, could watch it. Only the signer (its caller) and admins may; the
    answer moves with a write and holds (304) without one."""
    from contracts.registry_api import CHANGES_ROUTE

    base = f"http://127.0.0.1:{platform.registry_port}"
    assert (
        _record("anonymous", f"GET {CHANGES_ROUTE}", httpx.get(base + CHANGES_ROUTE).status_code)
        == 401
    )
    for zone in ("ingest", "trainer", "server"):
        with _registry(platform, zone) as client:
            assert (
                _record(zone, f"GET {CHANGES_ROUTE}", client.get(CHANGES_ROUTE).status_code) == 403
            )
    with _registry(platform, "signer") as signer, _registry(platform, "admin") as admin:
        first = signer.get(CHANGES_ROUTE)
        assert first.status_code == 200, first.text
        etag = first.headers["etag"]
        same = signer.get(CHANGES_ROUTE, headers={"If-None-Match": etag})
        assert same.status_code in (200, 304)  # 200 only if a write passed meanwhile
        version = admin.get(
            "/api/2.0/mlflow/registered-models/alias",
            params={"name": "sentiment", "alias": "champion"},
        ).json()["model_version"]["version"]
        tag = {"name": "sentiment", "version": version, "key": "bulkhead.test.changes"}
        try:
            assert admin.post(
                "/api/2.0/mlflow/model-versions/set-tag", json={**tag, "value": "1"}
            ).is_success
            moved = signer.get(CHANGES_ROUTE, headers={"If-None-Match": etag})
            assert moved.status_code == 200 and moved.headers["etag"] != etag
        finally:
            admin.request("DELETE", "/api/2.0/mlflow/model-versions/delete-tag", json=tag)


def test_a_registry_write_reaches_the_next_poll_at_once(platform: TestPlatform) -> None:
    """Answers are cached for a second, but a write through the registry empties the cache:
    an approval or a promotion is never served stale by this process."""
    from contracts.registry_api import ALIAS_POLL_ROUTE

    query = {"name": "sentiment", "alias": "champion"}
    with _registry(platform, "server") as server, _registry(platform, "admin") as admin:
        before = server.get(ALIAS_POLL_ROUTE, params=query)
        version = before.json()["version"]
        tag = {"name": "sentiment", "version": version, "key": "bulkhead.test.poll"}
        try:
            assert admin.post(
                "/api/2.0/mlflow/model-versions/set-tag", json={**tag, "value": "1"}
            ).is_success
            after = server.get(
                ALIAS_POLL_ROUTE, params=query, headers={"If-None-Match": before.headers["etag"]}
            )
            assert after.status_code == 200 and after.json()["tags"]["bulkhead.test.poll"] == "1"
        finally:
            admin.request("DELETE", "/api/2.0/mlflow/model-versions/delete-tag", json=tag)


def test_only_the_control_plane_writes_a_rollout(platform: TestPlatform) -> None:
    """A rollout decides which version answers clients: the serve zone reads it with the
    alias and may never write it (nor may ingest); the trainer, the operator's registry user,
    may. An ended rollout is written, so no replica acts on it."""
    import time

    from contracts.registry_api import ALIAS_POLL_ROUTE
    from contracts.rollout import ROLLOUT_TAG, RolloutState

    with _registry(platform, "server") as server:
        champion = server.get(
            ALIAS_POLL_ROUTE,
            params={"name": "sentiment", "alias": "champion"},
            headers={"Cache-Control": "no-cache"},
        ).json()["version"]
    ended = RolloutState(
        id="walls-test",
        model="sentiment",
        champion=champion,
        candidate=str(int(champion) + 1000),
        phase="aborted",
        started_at=time.time(),
        updated_at=time.time(),
        reason="security test",
    ).model_dump_json()
    tag = {"name": "sentiment", "key": ROLLOUT_TAG, "value": ended}
    route = "/api/2.0/mlflow/registered-models/set-tag"
    for user in ("server", "ingest"):
        with _registry(platform, user) as client:
            status = client.post(route, json=tag).status_code
            assert _record(user, f"set {ROLLOUT_TAG} (start a rollout)", status) == 403
    with _registry(platform, "trainer") as trainer, _registry(platform, "server") as server:
        previous = trainer.get(
            "/api/2.0/mlflow/registered-models/get", params={"name": "sentiment"}
        ).json()["registered_model"]
        before = {t["key"]: t["value"] for t in previous.get("tags", [])}.get(ROLLOUT_TAG)
        try:
            assert trainer.post(route, json=tag).is_success
            polled = server.get(ALIAS_POLL_ROUTE, params={"name": "sentiment", "alias": "champion"})
            assert polled.json()["rollout"] == ended
        finally:
            if before is not None:
                trainer.post(route, json={**tag, "value": before})


def test_the_serve_zones_reader_polls_through_the_cheap_route(
    platform: TestPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry.credentials import RegistryCredentials
    from registry.reader import RegistryReader

    credentials = RegistryCredentials.from_file(platform.paths.registry_credentials("server"))
    for name, value in credentials.client_env().items():
        monkeypatch.setenv(name, value)
    cheap, native = RegistryReader(), RegistryReader(poll_route=False)
    first = cheap.resolve("sentiment", "champion")
    again = cheap.resolve("sentiment", "champion")  # a 304: the same answer
    assert cheap.poll_route, "the reader fell back to MLflow's call"
    assert first == again == native.resolve("sentiment", "champion")
    assert first.approved and first.manifest_digest


def test_unauthenticated_slow_bodies_do_not_lock_out_real_callers(served: Served) -> None:
    """40 connections send headers and hold their bodies (the review's attack): every
    authenticated prediction must still be answered."""
    host, port = served.url.removeprefix("http://").split(":")

    async def attack() -> list[int]:
        held = []
        for _ in range(40):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{"
            )
            await writer.drain()
            held.append((reader, writer))
        await asyncio.sleep(1.0)
        statuses = []
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(5):
                response = await client.post(
                    f"{served.url}/v1/predict", json={"texts": ["fine"]}, headers=served.headers()
                )
                statuses.append(response.status_code)
        for _, writer in held:
            writer.close()
        return statuses

    statuses = asyncio.run(attack())
    for status in statuses:
        _record("anonymous", "40 held bodies, then a real prediction", status)
    assert statuses == [200] * 5


def test_readiness_says_whether_but_never_why(served: Served) -> None:
    body = httpx.get(f"{served.url}/v2/health/ready").json()
    assert set(body) <= {"ready", "model_version", "reason"}
    assert body.get("reason") in (None, "no verified model yet")


def test_every_listening_socket_and_secret_is_accounted_for(
    platform: TestPlatform, served: Served
) -> None:
    done = platform.cli("check-isolation", "--json")
    report = json.loads(done.stdout)
    sockets = report["sockets"]
    for row in sockets:
        print(f"{row['service']:>14} {row['process'][:40]:<40} {row['address']}:{row['port']}")
    assert done.returncode == 0 and report["holds"], [s for s in sockets if not s["allowed"]]
    ports = {s["port"] for s in sockets}
    serve_base = platform.port_base + 2000
    assert {serve_base + 50, serve_base + 51} <= ports  # HAProxy stats + metrics, on loopback
    assert any("ServeReplica" in s["process"] for s in sockets)
    assert all(f["ok"] for f in report["secrets"])


@pytest.fixture(scope="module", autouse=True)
def _print_the_attack_matrix() -> Iterator[None]:
    """The table of every attempt in this module and what the platform answered, printed
    when the module's tests are done (whichever of them ran, in whatever order: a test
    named to sort last once carried this, and passed only because it did)."""
    yield
    print("\nattacker   | attempt | answer")
    for attacker, attempt, answer in OUTCOMES:
        print(f"{attacker:>10} | {attempt:<70} | {answer}")
