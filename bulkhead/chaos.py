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
from typing import Literal

import httpx
import psutil
from pydantic import BaseModel

from bulkhead.platform import Platform, read_api_key
from bulkhead.procs import session_members, stop_session
from bulkhead.settings import Zone
from loadtests.closed_loop import ClosedLoopLoad, LoadCounts
from loadtests.texts import latest_snapshot, texts_from_snapshot

Verdict = Literal["pass", "fail"]


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
    "registry-outage": registry_outage,
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
