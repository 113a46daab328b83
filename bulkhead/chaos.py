"""``bulkhead chaos``: inject real faults into the running platform under load, count everything.

Each scenario runs a closed-loop load against the serve zone, injects one fault (kill a
replica, kill the HTTP ingress, stop the registry, overload, hostile requests) and reports
requests, failures (HTTP errors and connection errors apart), recovery time and a verdict
against the goal of the reliability issue.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import psutil
from pydantic import BaseModel

from bulkhead.platform import Platform, read_api_key
from bulkhead.procs import session_members, stop_session
from bulkhead.settings import Zone
from loadtests.closed_loop import ClosedLoopLoad, LoadCounts
from loadtests.texts import latest_snapshot, texts_from_snapshot

# "skipped": the platform lacks what the scenario needs (said in the detail); never a pass.
Verdict = Literal["pass", "fail", "skipped"]


class ScenarioResult(BaseModel):
    scenario: str
    fault: str
    goal: str
    requests: int
    failed: int
    http_errors: int
    connection_errors: int
    failed_pct: float
    recovery_s: float | None
    verdict: Verdict
    detail: str
    counts: LoadCounts


@dataclass
class ChaosContext:
    platform: Platform
    url: str
    api_key: str
    texts: list[str]
    clients: int = 4

    def load(self, clients: int | None = None, timeout_s: float = 10.0) -> ClosedLoopLoad:
        return ClosedLoopLoad(
            self.url, self.api_key, self.texts, clients=clients or self.clients, timeout_s=timeout_s
        )

    def serve_members(self) -> list[psutil.Process]:
        zone = self.platform.load_state().zones.get(Zone.SERVE)
        return session_members(zone.process.pid) if zone else []

    def replicas(self) -> list[psutil.Process]:
        return [p for p in self.serve_members() if _title(p).startswith("ray::ServeReplica")]

    def haproxy(self) -> list[psutil.Process]:
        return [p for p in self.serve_members() if _name(p) == "haproxy"]

    def predict_ok(self) -> bool:
        try:
            response = httpx.post(
                f"{self.url}/v1/predict",
                json={"texts": ["a fine film"]},
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=10,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def _title(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def _name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.Error:
        return ""


def _wait(check: Callable[[], bool], limit_s: float, every_s: float = 0.25) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if check():
            return time.monotonic() - started
        time.sleep(every_s)
    return None


def _result(
    scenario: str,
    fault: str,
    goal: str,
    counts: LoadCounts,
    recovery_s: float | None,
    passed: bool,
    detail: str,
) -> ScenarioResult:
    return ScenarioResult(
        scenario=scenario,
        fault=fault,
        goal=goal,
        requests=counts.requests,
        failed=counts.failed,
        http_errors=counts.http_errors,
        connection_errors=counts.connection_errors,
        failed_pct=round(100 * counts.failed / max(counts.requests, 1), 3),
        recovery_s=None if recovery_s is None else round(recovery_s, 1),
        verdict="pass" if passed else "fail",
        detail=detail,
        counts=counts,
    )


def replica_crash(ctx: ChaosContext) -> ScenarioResult:
    before = ctx.replicas()
    if not before:
        raise RuntimeError("no Serve replica process found in the serve zone")
    with ctx.load() as load:
        time.sleep(5)
        victim = before[0]
        killed_at = load.elapsed()
        os.kill(victim.pid, signal.SIGKILL)
        alive = lambda: len([p for p in ctx.replicas() if p.pid != victim.pid]) >= len(before)  # noqa: E731
        back = _wait(alive, 90)
        time.sleep(5)
    counts = load.counts()
    ok_again = load.first_ok_after(killed_at)
    goal = "≤ 0.1% failed; Serve replaces the replica"
    passed = back is not None and counts.failed <= 0.001 * counts.requests
    return _result(
        "replica crash",
        f"SIGKILL replica pid {victim.pid} ({len(before)} running)",
        goal,
        counts,
        back,
        passed,
        f"replaced in {back if back is None else round(back, 1)} s; first success after the kill "
        f"{None if ok_again is None else round(ok_again - killed_at, 2)} s later",
    )


def ingress_crash(ctx: ChaosContext) -> ScenarioResult:
    before = ctx.haproxy()
    if not before:
        raise RuntimeError("no HAProxy process in the serve zone (is haproxy_ingress off?)")
    with ctx.load() as load:
        time.sleep(5)
        killed_at = load.elapsed()
        for proc in before:
            os.kill(proc.pid, signal.SIGKILL)
        back = _wait(ctx.predict_ok, 90)
        time.sleep(5)
    counts = load.counts()
    passed = back is not None and counts.failed <= 0.001 * counts.requests
    return _result(
        "ingress (HAProxy) crash",
        f"SIGKILL {len(before)} HAProxy process(es)",
        "≤ 0.1% failed; Serve restarts the ingress",
        counts,
        back,
        passed,
        f"answering again {back if back is None else round(back, 1)} s after the kill "
        f"(kill at {killed_at:.1f} s)",
    )


def registry_outage(ctx: ChaosContext, outage_s: float = 15.0) -> ScenarioResult:
    platform = ctx.platform
    state = platform.load_state()
    if state.registry is None:
        raise RuntimeError("the registry is not running")
    ready_codes: list[int] = []
    with ctx.load() as load:
        time.sleep(3)
        stop_session(state.registry.process)
        deadline = time.monotonic() + outage_s
        while time.monotonic() < deadline:
            try:
                ready_codes.append(httpx.get(f"{ctx.url}/v2/health/ready", timeout=5).status_code)
            except httpx.HTTPError:
                ready_codes.append(0)
            time.sleep(1)
        restarted = time.monotonic()
        platform.up()
        back = time.monotonic() - restarted
        time.sleep(3)
    counts = load.counts()
    passed = counts.failed == 0 and all(code == 200 for code in ready_codes)
    return _result(
        "registry outage",
        f"registry stopped for {outage_s:.0f} s, then restarted",
        "0 failed; readiness stays 200 for replicas holding a model",
        counts,
        back,
        passed,
        f"readiness during the outage: {sorted(set(ready_codes))}; registry back in {back:.1f} s",
    )


def overload(ctx: ChaosContext, clients: int = 96, seconds: float = 12.0) -> ScenarioResult:
    with ctx.load(clients=clients, timeout_s=30) as load:
        time.sleep(seconds)
    spike = load.counts()
    back = _wait(ctx.predict_ok, 30)
    rejected = spike.status_codes.get("503", 0)
    other = spike.http_errors - rejected
    passed = spike.connection_errors == 0 and other == 0 and back is not None
    return _result(
        "overload",
        f"{clients} closed-loop clients for {seconds:.0f} s",
        "fast 503 + Retry-After beyond the queue, no timeouts or other errors, recovers alone",
        spike,
        back,
        passed,
        f"{rejected}x 503 ({spike.rejected_with_retry_after} with Retry-After); "
        f"p99 of accepted {spike.p99_ok_ms} ms; served again {back} s after the spike",
    )


def _skipped(scenario: str, fault: str, goal: str, why: str) -> ScenarioResult:
    empty = LoadCounts(
        requests=0,
        ok=0,
        http_errors=0,
        connection_errors=0,
        status_codes={},
        versions={},
        longest_gap_s=0.0,
        p99_ok_ms=None,
        rejected_with_retry_after=0,
    )
    result = _result(scenario, fault, goal, empty, None, False, why)
    return result.model_copy(update={"verdict": "skipped"})


def _settled_on(load: ClosedLoopLoad, version: str, since: float, window_s: float = 2.0) -> bool:
    """Every answer of the last ``window_s`` seconds (after ``since``) came from ``version``."""
    now = load.elapsed()
    recent = [
        o for o in list(load.outcomes) if o.t >= max(since, now - window_s) and o.status == 200
    ]
    return now - since >= window_s and bool(recent) and all(o.version == version for o in recent)


def _champion_and_candidate(writer: Any) -> tuple[str | None, str | None]:
    """The champion, and the newest other gate-passed version to roll out in its place."""
    champion: str | None = writer.alias_version("champion")
    candidates = [
        row.version for row in writer.versions() if row.gate == "passed" and row.version != champion
    ]
    return champion, max(candidates, key=int) if candidates else None


def rollout(ctx: ChaosContext) -> ScenarioResult:
    """Promote another approved version under load, then roll back: nothing may fail."""
    from bulkhead.train_cli import registry_writer

    goal = "0 failed; every answer on the new version within 10 s; every answer names a version"
    writer = registry_writer(ctx.platform)
    champion, new = _champion_and_candidate(writer)
    if champion is None or new is None:
        return _skipped(
            "rollout",
            "promote + rollback under load",
            goal,
            "needs a champion and a second gate-passed version (run `bulkhead train`)",
        )
    with ctx.load() as load:
        time.sleep(3)
        promoted_at = load.elapsed()
        writer.promote(new, reason="chaos: rollout under load")
        to_new = _wait(lambda: _settled_on(load, new, promoted_at), 60)
        rolled_at = load.elapsed()
        writer.rollback(reason="chaos: rollout under load, back")
        to_old = _wait(lambda: _settled_on(load, champion, rolled_at), 60)
        time.sleep(2)
    counts = load.counts()
    unnamed = counts.ok - sum(counts.versions.values())
    on_new = None if to_new is None else to_new - 2.0  # the settle window is part of the wait
    on_old = None if to_old is None else to_old - 2.0
    passed = (
        counts.failed == 0
        and unnamed == 0
        and on_new is not None
        and on_new <= 10
        and on_old is not None
        and on_old <= 10
    )
    return _result(
        "rollout",
        f"promote v{new} over v{champion} under load, then roll back",
        goal,
        counts,
        on_new,
        passed,
        f"all answers on v{new} {on_new if on_new is None else round(on_new, 1)} s after the "
        f"promotion, back on v{champion} {on_old if on_old is None else round(on_old, 1)} s after "
        f"the rollback; versions seen {counts.versions}; {unnamed} answers without a version",
    )


def bad_artifact(ctx: ChaosContext) -> ScenarioResult:
    """Alias `champion` to an approved version whose model file is not ONNX (its digest is
    right): serving must refuse it, keep answering with the old model and say why."""
    from bulkhead.train_cli import registry_writer

    goal = "0 failed; old version keeps answering; refusal shown by /v1/status"
    writer = registry_writer(ctx.platform)
    champion = writer.alias_version("champion")
    if champion is None:
        return _skipped("bad artifact", "non-ONNX model aliased champion", goal, "no champion")
    broken = _register_broken_copy(writer, champion, ctx.platform.settings.experiment_name)
    with ctx.load() as load:
        time.sleep(3)
        writer.promote(broken, reason="chaos: bad artifact")
        headers = {"Authorization": f"Bearer {ctx.api_key}"}

        def refused() -> bool:
            status = httpx.get(f"{ctx.url}/v1/status", headers=headers, timeout=5).json()
            return broken in status.get("refused", {})

        seen = _wait(refused, 30, every_s=0.5)
        time.sleep(3)
        writer.rollback(reason="chaos: bad artifact, back")
    counts = load.counts()
    status = httpx.get(f"{ctx.url}/v1/status", headers=headers, timeout=5).json()
    passed = counts.failed == 0 and seen is not None and set(counts.versions) == {champion}
    return _result(
        "bad artifact",
        f"v{broken}: approved, digest right, model.onnx not ONNX, aliased champion",
        goal,
        counts,
        seen,
        passed,
        f"refused: {status.get('refused', {}).get(broken, 'not refused')[:90]}; "
        f"versions answering: {counts.versions}",
    )


def _register_broken_copy(writer: Any, version: str, experiment_name: str) -> str:
    """The champion's bundle with model.onnx replaced by garbage and the manifest re-signed,
    registered by the trainer as a new gate-passed version."""
    import contextlib
    import json
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    import mlflow

    from registry import bundle
    from registry.digest import sha256_file

    # MLflow prints run links to stdout; `chaos --json` owns stdout.
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{writer.model_name}/{version}", dst_path=tmp
            )
        )
        (local / bundle.MODEL_FP32).write_bytes(b"not an ONNX model\n" * 64)
        int8 = local / bundle.MODEL_INT8
        if int8.exists():
            shutil.copy(local / bundle.MODEL_FP32, int8)
        manifest = json.loads((local / bundle.MANIFEST).read_text())
        for relative in list(manifest["files"]):
            manifest["files"][relative] = sha256_file(local / relative)
        (local / bundle.MANIFEST).write_text(json.dumps(manifest))
        client = writer.client
        experiment = client.get_experiment_by_name(experiment_name)
        run = client.create_run(experiment.experiment_id, run_name="chaos-bad-artifact")
        logged = writer.log_bundle(run.info.run_id, local)
        client.set_terminated(run.info.run_id)
        new: str = writer.register(
            run.info.run_id, logged, {"gate.passed": "true", "chaos": "bad artifact"}
        )
        return new


def registry_partition(ctx: ChaosContext, outage_s: float = 12.0) -> ScenarioResult:
    """Cut the serve zone off the registry (its veth link down, `--isolate` only), promote
    another version meanwhile (the operator still reaches the registry), restore the link:
    nothing fails, readiness stays green, and the promotion made meanwhile is picked up."""
    from bulkhead.isolation import Node
    from bulkhead.train_cli import registry_writer

    goal = "0 failed; readiness 200; the promotion made meanwhile served ≤ 10 s after return"
    layout = ctx.platform.load_state().isolation
    if layout is None:
        return _skipped(
            "registry partition",
            "serve zone cut off the registry",
            goal,
            "needs `bulkhead up --isolate` (the link to cut is the serve zone's veth)",
        )
    writer = registry_writer(ctx.platform)
    champion, new = _champion_and_candidate(writer)
    if champion is None or new is None:
        return _skipped(
            "registry partition",
            "serve zone cut off the registry",
            goal,
            "needs a champion and a second gate-passed version",
        )

    ready_codes: list[int] = []
    with ctx.load() as load:
        time.sleep(3)
        layout.set_registry_link(Node.SERVE, up=False)
        try:
            writer.promote(new, reason="chaos: promotion during a registry partition")
            deadline = time.monotonic() + outage_s
            while time.monotonic() < deadline:
                try:
                    code = httpx.get(f"{ctx.url}/v2/health/ready", timeout=5).status_code
                except httpx.HTTPError:
                    code = 0
                ready_codes.append(code)
                time.sleep(1)
            served_during = set(load.counts().versions)
        finally:
            layout.set_registry_link(Node.SERVE, up=True)
        restored_at = load.elapsed()
        picked = _wait(lambda: _settled_on(load, new, restored_at), 60)
        writer.rollback(reason="chaos: registry partition, back")
        time.sleep(2)
    counts = load.counts()
    on_new = None if picked is None else picked - 2.0
    passed = (
        counts.failed == 0
        and all(code == 200 for code in ready_codes)
        and served_during == {champion}
        and on_new is not None
        and on_new <= 10
    )
    return _result(
        "registry partition",
        f"serve zone's registry link down {outage_s:.0f} s; v{new} promoted meanwhile",
        goal,
        counts,
        on_new,
        passed,
        f"served during the partition: {sorted(served_during)}; "
        f"readiness {sorted(set(ready_codes))}; v{new} on every answer "
        f"{on_new if on_new is None else round(on_new, 1)} s after the link returned",
    )


def hostile_input(ctx: ChaosContext) -> ScenarioResult:
    from loadtests.hostile import corpus

    key = {"Authorization": f"Bearer {ctx.api_key}"}
    worst: list[str] = []
    statuses: list[int] = []
    after_ok = 0
    cases = corpus()
    with httpx.Client(timeout=20) as client:
        for case in cases:
            try:
                response = client.request(
                    case.method,
                    f"{ctx.url}{case.path}",
                    content=case.body,
                    headers={**key, **case.headers} if case.auth else case.headers,
                )
                statuses.append(response.status_code)
                if response.status_code >= 500 or response.status_code < 400:
                    worst.append(f"{case.name}: {response.status_code}")
            except httpx.HTTPError as err:
                statuses.append(0)
                worst.append(f"{case.name}: {type(err).__name__}")
            after_ok += ctx.predict_ok()
    counts = LoadCounts(
        requests=len(statuses),
        ok=0,
        http_errors=sum(1 for s in statuses if s >= 400),
        connection_errors=sum(1 for s in statuses if s == 0),
        status_codes={str(s): statuses.count(s) for s in sorted(set(statuses))},
        versions={},
        longest_gap_s=0,
        p99_ok_ms=None,
        rejected_with_retry_after=0,
    )
    passed = not worst and after_ok == len(cases)
    result = _result(
        "hostile input",
        f"{len(cases)} malformed requests",
        "every one a 4xx (never ≥ 500, never accepted); a valid request succeeds after each",
        counts,
        None,
        passed,
        "; ".join(worst) or f"all 4xx; valid request after each: {after_ok}/{len(cases)}",
    )
    # For this scenario "failed" means a wrong answer, not a 4xx (4xx is the right answer).
    result.failed = len(worst)
    result.failed_pct = round(100 * len(worst) / max(len(cases), 1), 3)
    return result


SCENARIOS: dict[str, Callable[[ChaosContext], ScenarioResult]] = {
    "hostile-input": hostile_input,
    "rollout": rollout,
    "bad-artifact": bad_artifact,
    "registry-outage": registry_outage,
    "registry-partition": registry_partition,
    "replica-crash": replica_crash,
    "ingress-crash": ingress_crash,
    "overload": overload,
}


def context(platform: Platform) -> ChaosContext:
    snapshot = latest_snapshot(platform.paths.snapshots)
    texts = texts_from_snapshot(snapshot) if snapshot else ["a fine film", "a dull film"]
    return ChaosContext(
        platform=platform,
        url=platform.settings.serve_url,
        api_key=read_api_key(platform.paths),
        texts=texts,
    )
