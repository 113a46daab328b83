"""`bulkhead train` as a real Ray Train job on the train cluster, and the registry after it."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from bulkhead.platform.procs import session_members
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import PlatformState
from registry import bundle
from tests.utils.platform import BULKHEAD, PROMOTABLE_TINY, TestPlatform

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    file = Path(tmp_path_factory.mktemp("cfg")) / "tiny.yaml"
    file.write_text(PROMOTABLE_TINY)
    return file


def _train(platform: TestPlatform, snapshot: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return platform.cli("train", "--snapshot", str(snapshot), "--json", *args, timeout=900)


def _models(platform: TestPlatform) -> dict[str, dict]:
    return {row["version"]: row for row in platform.cli_json("models")}


def _registry(platform: TestPlatform, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{platform.registry_port}/api/2.0/mlflow",
        auth=(user, platform.password(user)),
    )


def test_train_register_gate_promote_rollback(
    platform: TestPlatform, snapshot: Path, tiny_config: Path, tmp_path: Path
) -> None:
    first = _train(platform, snapshot, "--preset", "tiny", "--config", str(tiny_config))
    assert first.returncode == 0, first.stderr[-3000:]
    v1 = json.loads(first.stdout)
    assert v1["promoted"] and v1["champion"] == v1["version"]
    assert v1["metrics"]["parity_max_abs_diff"] < 1e-4
    with _registry(platform, "admin") as admin:
        tags = admin.get(
            "/model-versions/get", params={"name": "sentiment", "version": v1["version"]}
        ).json()["model_version"]["tags"]
    tag_keys = {t["key"] for t in tags}
    assert {
        "accuracy",
        "macro_f1",
        "parity_max_abs_diff",
        "latency_p50_ms",
        "dataset_digest",
        "code_version",
        "training_run_id",
        "behaviour_invariance_names",
        "gate.passed",
    } <= tag_keys

    _assert_signed_by_the_platforms_key(platform, v1["version"], tmp_path)

    # Two more jobs at once (the train zone has two CPUs; each tiny job's worker takes one):
    # one asking for a clear gain over the champion (a tiny model's accuracy moves by noise
    # between runs): it passes the gate, is no better, so champion stays; one on the production
    # floors, which the tiny model fails.
    demanding = tmp_path / "demanding.yaml"
    demanding.write_text(PROMOTABLE_TINY + "  promote_min_gain: 0.05\n")
    with ThreadPoolExecutor(max_workers=2) as pool:
        demanded = pool.submit(
            _train, platform, snapshot, "--preset", "tiny", "--config", str(demanding)
        )
        floored = pool.submit(_train, platform, snapshot, "--preset", "tiny")
        second_run, failing = demanded.result(), floored.result()
    assert second_run.returncode == 0, second_run.stderr[-3000:]
    second = json.loads(second_run.stdout)
    assert second["gate"]["passed"] and not second["promoted"]
    assert second["champion"] == v1["version"]
    rows = _models(platform)
    assert "challenger" in rows[second["version"]]["aliases"]
    assert rows[v1["version"]]["aliases"] == ["champion"]

    # Production floors on the tiny model: registered with evidence, gate failed, exit 3.
    assert failing.returncode == 3, failing.stderr[-3000:]
    assert "gate failed" in failing.stderr and "< floor 0.7500" in " ".join(failing.stderr.split())
    bad = json.loads(failing.stdout)["version"]
    rows = _models(platform)
    assert rows[bad]["aliases"] == [] and rows[bad]["gate"].startswith("failed: accuracy")
    assert rows[bad]["signature"] == "—"  # the signer judges only what passed the gate

    refused = platform.cli("promote", bad)
    assert refused.returncode == 4 and "did not pass the gate" in refused.stderr
    forced = platform.cli("promote", bad, "--force", "--reason", "test of a forced promotion")
    assert forced.returncode == 0, forced.stderr
    assert _models(platform)[bad]["aliases"] == ["champion"]
    back = platform.cli_json("rollback", "--reason", "forced version was bad")
    assert back == {"champion": v1["version"], "previous": bad}
    assert platform.cli_json("status")["champion_version"] == v1["version"]


def _verdict(platform: TestPlatform, version: str, timeout_s: float = 60.0) -> str:
    """The signer's verdict on ``version`` once it has one (it passes every 2 s)."""
    deadline = time.monotonic() + timeout_s
    verdict = "waiting"
    while time.monotonic() < deadline:
        verdict = _models(platform)[version]["signature"]
        if verdict != "waiting":
            return str(verdict)
        time.sleep(0.5)
    return str(verdict)


def _assert_signed_by_the_platforms_key(
    platform: TestPlatform, version: str, tmp_path: Path
) -> None:
    """The model signer (its own identity) measured the trained version again and signed
    it; the signature verifies offline, with the platform's public key alone, against the
    files the serve zone downloads, for this model and version."""
    from bulkhead.platform import signing_keys
    from contracts import signatures
    from contracts.tags import MANIFEST_DIGEST_TAG, SIGNATURE_TAG, SIGNER_FIGURES_TAG

    started = time.monotonic()
    verdict = _verdict(platform, version)
    active = (platform.paths.signing_keys / "active").read_text().strip()
    print(f"\nv{version}: {verdict} ({time.monotonic() - started:.1f} s after the job returned)")
    assert verdict == f"signed (key {active[:12]})", verdict
    with _registry(platform, "server") as server:
        tags = {
            t["key"]: t["value"]
            for t in server.get(
                "/model-versions/get", params={"name": "sentiment", "version": version}
            ).json()["model_version"]["tags"]
        }
    trusted = signatures.load_public_keys(signing_keys.public_keys(platform.paths).values())
    folder = _download_as_server(platform, f"models:/sentiment/{version}", tmp_path / f"v{version}")
    found = signatures.verify(
        folder, tags[SIGNATURE_TAG], trusted, "sentiment", version, tags[MANIFEST_DIGEST_TAG]
    )
    assert found.key_id == active and found.binding.snapshot_digest == tags["dataset_digest"]
    figures = json.loads(tags[SIGNER_FIGURES_TAG])
    assert abs(figures["accuracy"] - float(tags["accuracy"])) <= 0.005  # measured again


def _download_as_server(platform: TestPlatform, uri: str, destination: Path) -> Path:
    """``uri`` (``models:/...``) downloaded as the serve zone's read-only registry user."""
    import os
    import sys

    server = json.loads(platform.paths.registry_credentials("server").read_text())
    code = (
        "import mlflow, sys\n"
        "print(mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[2], "
        "dst_path=sys.argv[1]))\n"
    )
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": server["tracking_uri"],
        "MLFLOW_TRACKING_USERNAME": "server",
        "MLFLOW_TRACKING_PASSWORD": server["password"],
    }
    done = subprocess.run(
        [sys.executable, "-c", code, str(destination), uri],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(done.stdout.strip().splitlines()[-1])


def test_server_user_reads_the_champion_bundle_but_cannot_write(
    platform: TestPlatform, snapshot: Path, tiny_config: Path, tmp_path: Path
) -> None:
    if platform.cli_json("status")["champion_version"] is None:
        done = _train(platform, snapshot, "--preset", "tiny", "--config", str(tiny_config))
        assert done.returncode == 0, done.stderr[-2000:]
    manifest = bundle.verify(_download_as_server(platform, "models:/sentiment@champion", tmp_path))
    assert manifest.labels == ["fresh", "rotten"]

    champion = platform.cli_json("status")["champion_version"]
    with _registry(platform, "server") as client:
        attempts = [
            client.post(
                "/registered-models/alias",
                json={"name": "sentiment", "alias": "champion", "version": champion},
            ),
            client.request(
                "DELETE",
                "/registered-models/alias",
                json={"name": "sentiment", "alias": "champion"},
            ),
            client.request(
                "DELETE", "/model-versions/delete", json={"name": "sentiment", "version": champion}
            ),
            client.post(
                "/model-versions/create",
                json={"name": "sentiment", "source": "mlflow-artifacts:/x"},
            ),
        ]
    assert [r.status_code for r in attempts] == [403, 403, 403, 403]


class FaultedRuns:
    """The last test's two fault-injected jobs, started in the background as soon as the
    test before it has killed its worker (from then on nothing there tells jobs apart by
    their processes or checkpoints): they run while the killed job resumes, on the session
    platform's three train CPUs, instead of after it."""

    def __init__(self, platform: TestPlatform, snapshot: Path, config: Path) -> None:
        self.platform, self.snapshot, self.config = platform, snapshot, config
        self.pool = ThreadPoolExecutor(max_workers=len(FAULT_POINTS))
        self.runs: dict[str, Future[subprocess.CompletedProcess[str]]] = {}
        self.champion_before: str | None = None

    def start(self) -> None:
        if self.runs:
            return
        self.champion_before = self.platform.cli_json("status")["champion_version"]
        for point in FAULT_POINTS:
            self.runs[point] = self.pool.submit(
                _train,
                self.platform,
                self.snapshot,
                "--preset",
                "tiny",
                "--config",
                str(self.config),
                "--no-auto-promote",
                "--inject-fault",
                point,
            )

    def results(self) -> dict[str, subprocess.CompletedProcess[str]]:
        self.start()
        return {point: run.result() for point, run in self.runs.items()}


FAULT_POINTS = ("after-register", "after-gate")


@pytest.fixture(scope="module")
def faulted_runs(
    platform: TestPlatform, snapshot: Path, tiny_config: Path
) -> Iterator[FaultedRuns]:
    runs = FaultedRuns(platform, snapshot, tiny_config)
    yield runs
    runs.pool.shutdown(wait=True)


def _train_workers(platform: TestPlatform) -> list[psutil.Process]:
    state = PlatformState.load(platform.paths.state_file)
    members = session_members(state.zones[Zone.TRAIN].process.pid)
    found = []
    for proc in members:
        try:
            if "RayTrainWorker" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def test_killed_worker_resumes_from_its_checkpoint(
    platform: TestPlatform, snapshot: Path, tmp_path: Path, faulted_runs: FaultedRuns
) -> None:
    """Alone until its worker is killed; the next test's two jobs start then and run while
    this one resumes (``faulted_runs``). Its gate cannot pass (accuracy 1.0 asked): the job
    registers its version and sets no alias, so the next test's aliases are theirs alone."""
    unpassable = tmp_path / "unpassable.yaml"
    unpassable.write_text("gate:\n  min_accuracy: 1.0\n  min_macro_f1: 0.0\n")
    storage = platform.paths.home.resolve() / "train-runs"
    before = set(storage.rglob("checkpoint_*")) if storage.exists() else set()
    proc = subprocess.Popen(
        [
            BULKHEAD,
            "train",
            "--snapshot",
            str(snapshot),
            "--preset",
            "tiny",
            "--config",
            str(unpassable),
            "--epochs",
            "5",
            "--max-train-examples",
            "3000",  # ~3 s an epoch here: three epochs still to run when the kill comes
            "--no-auto-promote",
            "--json",
        ],
        env=platform.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = 0
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            new = set(storage.rglob("checkpoint_*")) - before if storage.exists() else set()
            workers = _train_workers(platform)
            # A checkpoint folder appears before the controller has committed it; once the
            # second one appears the first is committed for sure, whatever the machine's load.
            if len(new) >= 2 and workers:
                for worker in workers:
                    worker.kill()
                    killed += 1
                break
            time.sleep(0.2)
        faulted_runs.start()
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed >= 1, "no checkpoint appeared while a worker was alive"
    assert proc.returncode == 3 and "gate failed" in err, err[-3000:]  # exit 3: gate failed
    assert "resumed from checkpoint at epoch" in err
    assert err.count("epoch 1/5:") == 1  # epoch 1 was not trained twice
    result = json.loads(out)
    assert result["metrics"]["parity_max_abs_diff"] < 1e-4


def test_a_job_dying_between_registration_and_aliasing_leaves_no_half_promotion(
    platform: TestPlatform, faulted_runs: FaultedRuns
) -> None:
    """Two runs on the same snapshot and config, each killed at a different point:
    champion untouched both times; the version killed before its gate is unapproved (serving
    and `promote` refuse it); the one killed after its gate is a plain challenger. The two runs
    also show that training twice on one snapshot gives the same dataset digest and metrics."""
    done_by_point = faulted_runs.results()  # the two jobs ran at once (see FaultedRuns)
    champion_before = faulted_runs.champion_before
    versions = {}
    for point, done in done_by_point.items():
        assert done.returncode == 1, done.stderr[-2000:]
        assert f"injected fault: the job dies {point}" in done.stderr
        registered = re.search(r"registered sentiment version (\d+)", done.stderr)
        assert registered, done.stderr[-2000:]
        versions[point] = registered.group(1)
    assert platform.cli_json("status")["champion_version"] == champion_before
    rows = _models(platform)
    unfinished, gated = rows[versions["after-register"]], rows[versions["after-gate"]]
    assert unfinished["gate"] == "unknown" and "champion" not in unfinished["aliases"]
    assert gated["gate"] == "passed" and gated["aliases"] == ["challenger"]
    refused = platform.cli("promote", versions["after-register"], "--reason", "half done")
    assert refused.returncode != 0 and "no gate result" in refused.stderr
    with _registry(platform, "server") as server:
        tags = [
            server.get(
                "/model-versions/get",
                params={"name": "sentiment", "version": versions[point]},
            ).json()["model_version"]["tags"]
            for point in ("after-register", "after-gate")
        ]
    first, second = ({t["key"]: t["value"] for t in version} for version in tags)
    print(
        f"\nsame snapshot twice: accuracy {first['accuracy']} / {second['accuracy']}, "
        f"macro-F1 {first['macro_f1']} / {second['macro_f1']}"
    )
    assert first["dataset_digest"] == second["dataset_digest"]
    assert abs(float(first["accuracy"]) - float(second["accuracy"])) <= 0.01
    assert abs(float(first["macro_f1"]) - float(second["macro_f1"])) <= 0.01
