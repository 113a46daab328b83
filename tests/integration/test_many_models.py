"""Two models in one serve zone: each ingested, trained, gated and promoted on its own, each
answered by its own Serve application at /v1/models/{name}/predict."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bulkhead.platform.settings import DEFAULT_MODELS
from loadtests.oip_conformance import CLIENTS, run_client
from tests.utils.bundles import prepared_version, signer_verdict
from tests.utils.drop import wait_for_records
from tests.utils.platform import SECOND_MODEL, Served, TestPlatform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECOND = SECOND_MODEL
# A third bundled task, configured only by the test that adds it.
THIRD = "party"
ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["The film follows a young detective who moves to Paris in 1922.", "A dazzling triumph."]


def _ready(served: Served, model: str, limit_s: float = 120) -> httpx.Response:
    deadline = time.monotonic() + limit_s
    while True:
        answer = httpx.get(f"{served.url}/v1/models/{model}/ready", timeout=5)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(1)


def test_each_model_is_answered_by_its_own_application(
    platform: TestPlatform, served: Served, second_model: dict
) -> None:
    ready = _ready(served, SECOND)
    assert ready.status_code == 200, ready.text
    assert ready.json()["model_version"] == second_model["version"]
    second = httpx.post(
        f"{served.url}/v1/models/{SECOND}/predict", json={"texts": TEXTS}, headers=served.headers()
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["model"]["name"] == SECOND and body["model"]["version"] == second_model["version"]
    assert {p["label"] for p in body["predictions"]} <= {"objective", "subjective"}
    # The default model is untouched: same routes, its own labels and champion.
    status = platform.cli_json("status")
    assert status["champions"][SECOND] == second_model["version"]
    default = httpx.post(
        f"{served.url}/v1/predict", json={"texts": TEXTS}, headers=served.headers()
    )
    assert default.status_code == 200
    assert default.json()["model"]["name"] == status["model_name"]
    assert default.json()["model"]["version"] == status["champions"][status["model_name"]]
    named = httpx.post(
        f"{served.url}/v1/models/{status['model_name']}/predict",
        json={"texts": TEXTS},
        headers=served.headers(),
    )
    assert named.json()["model"] == default.json()["model"]


def test_every_model_answers_the_open_inference_protocol(
    served: Served, second_model: dict
) -> None:
    """/v2/models/{other}/... reaches the default model's application, which hands the call to
    the other model's application through Serve."""
    assert _ready(served, SECOND).status_code == 200
    infer = {
        "id": "r1",
        "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": TEXTS}],
    }
    answer = httpx.post(
        f"{served.url}/v2/models/{SECOND}/infer", json=infer, headers=served.headers()
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (
        SECOND,
        second_model["version"],
        "r1",
    )
    assert set(body["outputs"][0]["data"]) <= {"objective", "subjective"}
    meta = httpx.get(f"{served.url}/v2/models/{SECOND}", headers=served.headers()).json()
    assert meta["versions"] == [second_model["version"]]
    too_many = {
        "inputs": [{"name": "text", "shape": [65], "datatype": "BYTES", "data": ["x"] * 65}]
    }
    refused = httpx.post(
        f"{served.url}/v2/models/{SECOND}/infer", json=too_many, headers=served.headers()
    )
    assert refused.status_code == 400, refused.text  # the other application's own limit
    assert "65 texts" in refused.json()["error"]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_real_oip_clients_as_they_ship_run_against_every_model(
    client: str, platform: TestPlatform, served: Served, second_model: dict, peer_home: Path
) -> None:
    """Triton's and KServe's Python clients, each in its own environment: health, metadata,
    readiness, JSON and binary inference, a pinned version, and refusals they can read."""
    models = [platform.cli_json("status")["model_name"], SECOND]
    assert _ready(served, SECOND).status_code == 200
    checks = run_client(peer_home, CLIENTS[client], served.url, served.key, models, TEXTS, print)
    for check in checks:
        print(f"{check.client:28} {check.model:13} {check.check:45} {check.ok} {check.detail}")
    assert [c for c in checks if not c.ok] == []
    infers = [c for c in checks if c.check.startswith("infer")]
    # Every model went through every inference check (a client that stopped early fails).
    per_model = {m: {c.check for c in infers if c.model == m} for m in models}
    assert per_model[models[0]] == per_model[SECOND] and len(per_model[SECOND]) >= 2
    for model in models:
        v1 = httpx.post(
            f"{served.url}/v1/models/{model}/predict",
            json={"texts": TEXTS},
            headers=served.headers(),
        ).json()
        expected = {
            "labels": [p["label"] for p in v1["predictions"]],
            "version": v1["model"]["version"],
        }
        assert all(c.detail == expected for c in infers if c.model == model), (model, expected)


def test_a_model_route_needs_the_key_and_an_unknown_model_is_404(
    served: Served, second_model: dict
) -> None:
    url = f"{served.url}/v1/models/{SECOND}/predict"
    assert httpx.post(url, json={"texts": TEXTS}).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 40}
    assert httpx.post(url, json={"texts": TEXTS}, headers=wrong).status_code == 401
    unknown = httpx.post(
        f"{served.url}/v1/models/nope/predict", json={"texts": TEXTS}, headers=served.headers()
    )
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    too_many = httpx.post(url, json={"texts": ["x"] * 65}, headers=served.headers())
    assert too_many.status_code == 422


def test_commands_act_on_the_model_they_are_given(
    platform: TestPlatform, second_model: dict
) -> None:
    rows = platform.cli_json("models", "--model", SECOND)
    assert [row["version"] for row in rows if "champion" in row["aliases"]] == [
        second_model["version"]
    ]
    unknown = platform.cli("models", "--model", "nope")
    assert unknown.returncode == 2 and "unknown model 'nope'" in unknown.stderr
    refused = platform.cli("promote", "999", "--model", SECOND)
    assert refused.returncode == 2
    status = platform.cli_json("status", "--model", SECOND)
    assert (status["model_name"], status["champion_version"]) == (SECOND, second_model["version"])
    assert status["default_model"] != SECOND  # `--model` never makes a model the default


def test_a_third_model_added_by_config_and_deploy_is_promoted_and_removed_under_load_on_two(
    platform: TestPlatform, served: Served, second_model: dict, tmp_path: Path
) -> None:
    """What a user does to add a model, no code change: name it in BULKHEAD_MODELS, `up`
    again (the registry grants the zones' users their rights on it), ingest, train; then the
    scenario adds its application to the deployed config and deploys, promotes the trained
    version, waits for the new route to answer with it and removes the application, while
    paced load runs on both served models."""
    models = {name: spec.model_dump() for name, spec in DEFAULT_MODELS.items()}
    env = {"BULKHEAD_MODELS": json.dumps({**models, THIRD: {"dataset": "party"}})}
    default = platform.cli_json("status")["model_name"]
    assert _ready(served, SECOND).status_code == 200
    assert platform.cli("ingest", "--model", THIRD).returncode == 2, "not configured yet"
    up = platform.cli("up", "--no-pipeline", env=env, timeout=300)
    assert up.returncode == 0, up.stderr[-3000:]
    ingested = platform.cli_json("ingest", "--model", THIRD, "--no-log-to-registry", env=env)
    assert set(ingested["labels"]) == {"democrat", "republican"}
    third = prepared_version(platform, Path(ingested["snapshot"]), THIRD).version
    # The scenario promotes the newest signed version: once the signer has passed this one.
    assert signer_verdict(platform, third, THIRD, env=env).startswith("signed")
    unrouted = httpx.post(
        f"{served.url}/v1/models/{THIRD}/predict", json={"texts": TEXTS}, headers=served.headers()
    )
    assert unrouted.status_code == 404, "not served before its application is deployed"

    done = platform.cli("chaos", "--scenario", "model-onboarded", "--json", env=env, timeout=600)
    (result,) = json.loads(done.stdout)
    print(f"\nmodel-onboarded: {result['fault']}; {result['detail']}")
    assert result["verdict"] == "pass", result
    assert result["requests"] > 100 and result["failed"] == 0, result
    assert f"{THIRD} added" in result["fault"] and f"v{third} promoted" in result["fault"], result[
        "fault"
    ]
    assert f"replicas of {default}, {SECOND} untouched" in result["detail"], result["detail"]
    assert "route after removal: 404" in result["detail"]
    status = platform.cli_json("status", "--model", THIRD, env=env)
    assert status["champion_version"] == third
    assert _ready(served, SECOND).status_code == 200
    assert done.returncode == 0


def test_a_load_step_on_one_model_scales_only_that_models_deployment(
    platform: TestPlatform, served: Served, second_model: dict
) -> None:
    """Per-model autoscaling, with the load on the second model (`chaos --model`): a step on
    the default model scales the default model's deployment; the second keeps its replicas."""
    assert _ready(served, SECOND).status_code == 200
    default = platform.cli_json("status")["model_name"]
    done = platform.cli(
        "chaos",
        "--scenario",
        "model-scaling",
        "--model",
        SECOND,
        "--quick",  # scale-down is Serve's 30-s delay: reported by `make chaos`, not judged
        "--json",
        timeout=400,
    )
    (result,) = json.loads(done.stdout)
    print(f"\nmodel-scaling: {result['requests']} requests; {result['fault']}; {result['detail']}")
    assert result["verdict"] == "pass", result
    assert result["requests"] > 100 and result["failed"] == 0
    assert f"{default}: scaled 1 -> 2 replicas" in result["detail"], result["detail"]
    assert f"{SECOND}: replicas untouched" in result["detail"]
    assert done.returncode == 0


@pytest.fixture
def family_deployed(platform: TestPlatform, tmp_path: Path) -> Iterator[None]:
    """serve_config.yaml with deploy/serve_family.yaml's application appended, as its docs
    tell a user to; the plain config deployed back afterwards (Serve removes the family)."""
    data = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    family = yaml.safe_load((ROOT / "deploy" / "serve_family.yaml").read_text())
    data["applications"] += family["applications"]
    config = tmp_path / "serve_config.family.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    done = platform.cli("deploy", str(config), timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    try:
        yield
    finally:
        back = platform.cli("deploy", timeout=400)
        assert back.returncode == 0, back.stderr[-3000:]


def _family_version(served: Served, member: str) -> str:
    answer = httpx.post(
        f"{served.url}/v1/family/{member}/predict",
        json={"texts": TEXTS[:1]},
        headers=served.headers(),
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    version: str = answer.json()["model"]["version"]
    return version


def _until_family_serves(served: Served, member: str, version: str, limit_s: float) -> float:
    started = time.monotonic()
    while (seen := _family_version(served, member)) != version:
        assert time.monotonic() - started < limit_s, f"family still serves v{seen}, not v{version}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_a_model_family_serves_its_members_from_shared_replicas(
    platform: TestPlatform,
    served: Served,
    second_model: dict,
    family_deployed: None,
    tmp_path: Path,
) -> None:
    """The family application: each member loaded on first use on the shared replica
    (verified like any model), then answered warm; its answers are its champion's."""
    status = platform.cli_json("status")
    members = [status["model_name"], SECOND]
    assert _ready(served, SECOND).status_code == 200
    for member in members:
        answers = [
            httpx.post(
                f"{served.url}/v1/family/{member}/predict",
                json={"texts": TEXTS},
                headers=served.headers(),
                timeout=120,
            )
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
        loads = [float(a.headers["x-bulkhead-load-ms"]) for a in answers]
        print(f"\nfamily {member}: load ms per request {loads}")
        assert loads[0] > 0 and loads[1:] == [0.0, 0.0], loads
        body = answers[-1].json()
        assert body["model"]["version"] == status["champions"][member]
        own = httpx.post(
            f"{served.url}/v1/models/{member}/predict",
            json={"texts": TEXTS},
            headers=served.headers(),
        ).json()
        assert [p["label"] for p in body["predictions"]] == [p["label"] for p in own["predictions"]]
    # Request ids, payload log and feedback, as on a model's own routes.
    request_id = body["request_id"]
    assert request_id and answers[-1].headers["x-bulkhead-request-id"] == request_id
    label = body["predictions"][0]["label"]
    taken = httpx.post(
        f"{served.url}/v1/family/{SECOND}/feedback",
        json={"request_id": request_id, "index": 0, "label": label},
        headers=served.headers(),
    )
    assert taken.status_code == 202, taken.text
    rows = wait_for_records(platform.paths.drop_records, request_id, len(TEXTS) + 1)
    assert {(r["kind"], r["model"]) for r in rows} == {("prediction", SECOND), ("feedback", SECOND)}
    elsewhere = httpx.post(
        f"{served.url}/v1/family/{members[0]}/feedback",
        json={"request_id": request_id, "index": 0, "label": label},
        headers=served.headers(),
    )
    assert elsewhere.status_code == 404, elsewhere.text
    # A promotion reaches a member the shared replicas hold within seconds (they follow the
    # alias like a model's own replicas), and so does the promotion back.
    champion = status["champions"][SECOND]
    rows = platform.cli_json("models", "--model", SECOND)
    others = [
        r["version"]
        for r in rows
        if r["gate"] == "passed"
        and r["signature"].startswith("signed")
        and r["version"] != champion
    ]
    if others:
        new = others[-1]
    else:  # this test run alone: no other approved version of the member yet
        snapshot = Path(second_model["snapshot_path"])
        new = prepared_version(platform, snapshot, SECOND).version
        assert signer_verdict(platform, new, SECOND).startswith("signed")
    promoted = platform.cli("promote", new, "--model", SECOND, "--reason", "test: family follows")
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    try:
        took = _until_family_serves(served, SECOND, new, limit_s=15)
        print(f"family {SECOND}: promotion v{champion} -> v{new} served after {took:.1f} s")
    finally:
        platform.cli("promote", champion, "--model", SECOND, "--reason", "test: family done")
    _until_family_serves(served, SECOND, champion, limit_s=15)

    # GET /v1/models lists the members with the family's routes (next to their own
    # applications' entries), as the family's application describes them.
    def in_family() -> dict[str, dict]:
        answer = httpx.get(f"{served.url}/v1/models", headers=served.headers(), timeout=10)
        assert answer.status_code == 200, answer.text
        return {m["name"]: m for m in answer.json()["models"] if m["family"] == "family"}

    deadline = time.monotonic() + 10  # a listing is kept 2 s
    while set(in_family()) != set(members) and time.monotonic() < deadline:
        time.sleep(0.5)
    listed = in_family()
    assert set(listed) == set(members), listed
    assert listed[SECOND]["routes"]["predict"] == f"/v1/family/{SECOND}/predict"
    outsider = httpx.post(
        f"{served.url}/v1/family/nope/predict", json={"texts": TEXTS}, headers=served.headers()
    )
    assert outsider.status_code == 404 and "not in this family" in outsider.json()["detail"]
    assert (
        httpx.post(f"{served.url}/v1/family/{SECOND}/predict", json={"texts": TEXTS}).status_code
        == 401
    )
