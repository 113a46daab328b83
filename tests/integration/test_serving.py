"""The serve zone through real HTTP: auth, limits, OIP v2, readiness and hot swaps."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.utils.bundles import prepared_version, signer_verdict
from tests.utils.platform import Served, TestPlatform

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_predict_names_the_model_that_answered(platform: TestPlatform, served: Served) -> None:
    response = httpx.post(
        f"{served.url}/v1/predict",
        json={"texts": ["a wonderful film", "dull and far too long"]},
        headers=served.headers(),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["predictions"]) == 2
    for prediction in body["predictions"]:
        assert prediction["label"] in {"fresh", "rotten"}
        assert abs(sum(prediction["scores"].values()) - 1) < 1e-4
    assert body["model"]["name"] == "sentiment"
    assert body["model"]["version"] == platform.cli_json("status")["champion_version"]
    assert body["model"]["run_id"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic x"}, 401)],
)
def test_prediction_routes_need_the_api_key(served: Served, headers: dict, status: int) -> None:
    for method, path, body in [
        ("POST", "/v1/predict", {"texts": ["x"]}),
        ("GET", "/v2/models/sentiment", None),
        ("POST", "/v2/models/sentiment/infer", {"inputs": []}),
    ]:
        response = httpx.request(method, f"{served.url}{path}", json=body, headers=headers)
        assert response.status_code == status, (path, response.text)


def test_bad_input_gets_a_clear_4xx_and_the_service_keeps_answering(served: Served) -> None:
    cases = [
        ({"content": b"x" * 70_000}, 413, "exceeds the limit of 65536 bytes"),
        ({"json": {"texts": ["ok"] * 65}}, 422, "65 texts, the limit is 64"),
        ({"json": {"texts": ["y" * 2001]}}, 422, "texts[0] has 2001 characters, the limit is 2000"),
        ({"json": {"texts": ["fine", "   "]}}, 422, "texts[1] is empty"),
        ({"json": {"texts": []}}, 422, "at least 1 item"),
        ({"json": {"texts": [3]}}, 422, "valid string"),
        ({"json": {"texts": None}}, 422, "valid list"),
        ({"json": {"text": "x"}}, 422, "Field required"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "JSON"),
        ({"content": b"\xff\xfe\x00bad", "headers": {"content-type": "application/json"}}, 422, ""),
    ]
    for kwargs, status, message in cases:
        headers = {**served.headers(), **kwargs.pop("headers", {})}
        response = httpx.post(f"{served.url}/v1/predict", headers=headers, **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        assert message in response.text, response.text
    # Without the key nothing is revealed, not even which methods a route takes.
    assert httpx.get(f"{served.url}/v1/predict").status_code == 401
    assert httpx.get(f"{served.url}/v1/predict", headers=served.headers()).status_code == 405
    ok = httpx.post(
        f"{served.url}/v1/predict", json={"texts": ["still up"]}, headers=served.headers()
    )
    assert ok.status_code == 200


def test_open_inference_protocol_v2(served: Served) -> None:
    assert httpx.get(f"{served.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{served.url}/v2/health/ready").status_code == 200
    meta = httpx.get(f"{served.url}/v2/models/sentiment", headers=served.headers()).json()
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    request = {
        "id": "42",
        "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["good", "bad"]}],
    }
    response = httpx.post(
        f"{served.url}/v2/models/sentiment/infer", json=request, headers=served.headers()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "42" and body["model_name"] == "sentiment"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["label"]["shape"] == [2] and outputs["scores"]["shape"] == [2, 2]
    assert len(outputs["scores"]["data"]) == 4
    wrong_shape = {**request, "inputs": [{**request["inputs"][0], "shape": [3]}]}
    bad = httpx.post(
        f"{served.url}/v2/models/sentiment/infer", json=wrong_shape, headers=served.headers()
    )
    # The protocol's status and error body: Triton's and KServe's clients read "error".
    assert bad.status_code == 400 and "does not match" in bad.json()["error"]
    unknown = httpx.post(
        f"{served.url}/v2/models/other/infer", json=request, headers=served.headers()
    )
    assert unknown.status_code == 404
    docs = httpx.get(f"{served.url}/openapi.json").json()
    assert "/v1/predict" in docs["paths"] and "/v2/models/{name}/infer" in docs["paths"]


def _wait_until_refused(served: Served, version: str, limit_s: float = 20.0) -> None:
    """Until a replica's /v1/status says it refused ``version`` (its last error names it)."""
    started = time.monotonic()
    while True:
        status = httpx.get(f"{served.url}/v1/status", headers=served.headers()).json()
        if version in status.get("refused", {}) or f"v{version} " in (status["last_error"] or ""):
            return
        assert time.monotonic() - started < limit_s, f"no replica refused v{version}: {status}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def candidate(
    platform: TestPlatform, served: Served, snapshot: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """One approved version, registered but not promoted, for the swap tests of this module:
    signed by the model signer before a test promotes it (promotion -> served is timed)."""
    version = prepared_version(platform, snapshot).version
    assert signer_verdict(platform, version).startswith("signed")
    return version


def test_promotion_is_served_within_seconds_and_unapproved_versions_are_refused(
    platform: TestPlatform, served: Served, snapshot: Path, candidate: str
) -> None:
    before = served.answering_version()
    new = candidate
    done = platform.cli("promote", new, "--reason", "hot-swap test")
    assert done.returncode == 0, done.stderr
    promoted_at = time.monotonic()
    while served.answering_version() != new:
        assert time.monotonic() - promoted_at < 10, "new champion not served within 10 s"
        time.sleep(0.2)
    assert new != before

    # A version that failed the gate, aliased champion by hand (bypassing `promote`):
    # serving refuses it and keeps answering with the approved one. (That `train` registers
    # a version failing its gate with exit 3: tests/integration/test_training.py.)
    bad = prepared_version(platform, snapshot, gate_passed=False).version
    admin = ("admin", platform.password("admin"))
    aliased = httpx.post(
        f"http://127.0.0.1:{platform.registry_port}/api/2.0/mlflow/registered-models/alias",
        json={"name": "sentiment", "alias": "champion", "version": bad},
        auth=admin,
    )
    assert aliased.status_code == 200
    # Not a fixed sleep (which also passed when no replica had polled yet): a replica has
    # seen the unapproved champion and said why it refused it, and every answer is still new.
    _wait_until_refused(served, bad)
    assert {served.answering_version() for _ in range(5)} == {new}
    # The champion this test found, back (the candidate stays approved for the next test).
    restored = platform.cli("promote", before, "--reason", "restore")
    assert restored.returncode == 0, restored.stderr[-2000:]
    restored_at = time.monotonic()
    while served.answering_version() != before:  # the next tests start from what they find
        assert time.monotonic() - restored_at < 10, "restored champion not served within 10 s"
        time.sleep(0.2)


class _Load:
    """Closed-loop clients on loopback, bounded in time, counting every outcome."""

    def __init__(self, served: Served, clients: int = 4) -> None:
        import threading

        self.served = served
        self.stop = threading.Event()
        self.ok = 0
        self.http_errors: list[int] = []
        self.connection_errors: list[str] = []
        self.versions: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    response = client.post(
                        f"{self.served.url}/v1/predict",
                        json={"texts": ["an entertaining film"]},
                        headers=self.served.headers(),
                    )
                except httpx.HTTPError as err:
                    with self._lock:
                        self.connection_errors.append(type(err).__name__)
                    continue
                with self._lock:
                    if response.status_code == 200:
                        self.ok += 1
                        self.versions.append(response.json()["model"]["version"])
                    else:
                        self.http_errors.append(response.status_code)

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


def _wait_for_version(load: _Load, version: str, since: float, limit_s: float = 10) -> float:
    while True:
        with load._lock:
            latest = load.versions[-8:]
        if latest and all(v == version for v in latest):
            return time.monotonic() - since
        assert time.monotonic() - since < limit_s, f"v{version} not served within {limit_s} s"
        time.sleep(0.1)


def test_promote_and_rollback_under_load_fail_no_request(
    platform: TestPlatform, served: Served, candidate: str
) -> None:
    before = served.answering_version()
    assert before != candidate
    with _Load(served) as load:
        time.sleep(1)
        # Timed from the command's start: the replicas often swap before the CLI has exited,
        # so a clock started on its return reads 0. The command's own time is printed apart.
        started = time.monotonic()
        assert platform.cli("promote", candidate, "--reason", "swap under load").returncode == 0
        promote_cli = time.monotonic() - started
        to_new = _wait_for_version(load, candidate, started, limit_s=10 + promote_cli)
        started = time.monotonic()
        assert platform.cli("rollback", "--reason", "swap back under load").returncode == 0
        rollback_cli = time.monotonic() - started
        to_old = _wait_for_version(load, before, started, limit_s=10 + rollback_cli)
        time.sleep(1)
    print(
        f"\nunder load: {load.ok} ok, {len(load.http_errors)} HTTP errors, "
        f"{len(load.connection_errors)} connection errors; promote served {to_new:.1f} s after "
        f"the command started (the command took {promote_cli:.1f} s), rollback {to_old:.1f} s "
        f"(took {rollback_cli:.1f} s)"
    )
    assert load.ok > 50
    assert load.http_errors == [] and load.connection_errors == []


def test_tampered_bundle_is_refused_and_the_old_model_keeps_serving(
    platform: TestPlatform, served: Served, snapshot: Path, tmp_path: Path
) -> None:
    """A file changed in the artefact store after the signer passed the version: the files
    are not the signed ones, and the version is refused for good."""
    before = served.answering_version()
    prepared = prepared_version(platform, snapshot)
    run_id, version = prepared.run_id, prepared.version
    assert signer_verdict(platform, version).startswith("signed")
    (labels,) = platform.paths.artifacts.glob(f"*/{run_id}/artifacts/bundle/labels.json")
    labels.write_text('["rotten", "fresh"]')  # swaps the meaning of every prediction
    assert platform.cli("promote", version, "--reason", "tamper test").returncode == 0
    try:
        deadline = time.monotonic() + 20
        why = ""
        while "not the signed ones (changed: labels.json)" not in why:
            assert time.monotonic() < deadline, f"v{version} not refused for its files: {why}"
            time.sleep(0.2)
            status = httpx.get(f"{served.url}/v1/status", headers=served.headers()).json()
            why = status["refused"].get(version) or ""
        assert {served.answering_version() for _ in range(5)} == {before}
        ready = httpx.get(f"{served.url}/v2/health/ready").json()
        assert ready == {"ready": True, "model_version": before}
    finally:  # a tampered champion left behind would fail every later test's new replica
        assert platform.cli("rollback", "--reason", "tampered").returncode == 0


def test_a_trickled_body_is_cut_off_and_others_keep_being_served(served: Served) -> None:
    """Slowloris: one byte of body per second. The body deadline (limits.body_timeout_s,
    10 s) answers 408 however long the client keeps trickling; others are served meanwhile."""
    import socket
    from urllib.parse import urlsplit

    target = urlsplit(served.url)
    assert target.hostname is not None and target.port is not None
    body = json.dumps({"texts": ["a slow, slow film"] * 8}).encode()
    head = (
        "POST /v1/predict HTTP/1.1\r\n"
        f"Host: {target.hostname}\r\n"
        f"Authorization: Bearer {served.key}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = b""
    with socket.create_connection((target.hostname, target.port), timeout=2) as conn:
        conn.sendall(head)
        conn.settimeout(0.3)
        for index in range(len(body) - 1):  # never the last byte
            try:
                conn.sendall(body[index : index + 1])
            except OSError:
                break  # the server closed on us: read what it said
            ok = httpx.post(
                f"{served.url}/v1/predict", json={"texts": ["fine"]}, headers=served.headers()
            )
            assert ok.status_code == 200
            with contextlib.suppress(TimeoutError):
                answer += conn.recv(4096)
            if answer or time.monotonic() - started > 40:
                break
            time.sleep(1)
    elapsed = time.monotonic() - started
    print(f"\nslow body answered after {elapsed:.1f} s: {answer[:80]!r}")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 9 < elapsed < 20
