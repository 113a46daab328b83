"""What every chaos scenario shares: the context (platform, serve endpoint, load) and results."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
import psutil
from pydantic import BaseModel

from bulkhead.platform.core import Platform
from bulkhead.platform.procs import session_members
from bulkhead.platform.settings import Zone
from contracts.serve_api import READY
from loadtests.closed_loop import ClosedLoopLoad, LoadCounts
from serving.client import ServeClient, ServeEndpoint

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
    # Measured figures a script may want without parsing `detail` (e.g. the shadow cost's
    # percentiles); empty for most scenarios.
    figures: dict[str, float] = {}


STEADY_S = 5.0
QUICK_STEADY_S = 2.0


@dataclass
class ChaosContext:
    platform: Platform
    endpoint: ServeEndpoint
    texts: list[str]
    clients: int = 4
    # The model under test (`chaos --model`): its routes take the load. None: the default
    # model's /v1/predict.
    model: str | None = None
    # `chaos --quick`: a smoke run. Scenarios whose length buys only steadier figures take the
    # shortest form that still checks their goal (shadow-cost one round of windows; model
    # scaling ends with its step instead of waiting out Serve's downscale delay; shorter
    # steady windows around each fault, outages and rollout phases).
    quick: bool = False

    @property
    def steady_s(self) -> float:
        """Load before a fault and after recovery: what the fault is measured against and what
        shows the platform serving again. Hundreds of requests either way; five seconds only
        steady the rates the table prints."""
        return QUICK_STEADY_S if self.quick else STEADY_S

    def length(self, full_s: float, quick_s: float) -> float:
        """A scenario's own window (an outage, a node's time away): ``quick_s`` under
        `--quick`."""
        return quick_s if self.quick else full_s

    @property
    def application(self) -> str:
        """The Serve application serving the model under test (named after its model)."""
        return self.platform.model_name

    def load(
        self,
        clients: int | None = None,
        timeout_s: float = 10.0,
        per_client_rps: float = 0.0,
        model: str | None = None,
    ) -> ClosedLoopLoad:
        """Load on the model under test, or on ``model``'s routes when given."""
        return ClosedLoopLoad(
            self.endpoint,
            self.texts,
            clients=clients or self.clients,
            timeout_s=timeout_s,
            per_client_rps=per_client_rps,
            model=model or self.model,
        )

    def client(self, timeout_s: float = 10.0) -> ServeClient:
        return ServeClient(self.endpoint, timeout_s=timeout_s, model=self.model)

    def ready_code(self) -> int:
        """Readiness right now: its HTTP status, 0 when nothing answered."""
        try:
            with self.client(timeout_s=5) as client:
                return client.ready().status_code
        except httpx.HTTPError:
            return 0

    def serve_members(self, node: int | None = None) -> list[psutil.Process]:
        """Processes of the serve zone: every node's, or node ``node``'s (0 = the head)."""
        state = self.platform.load_state()
        zone = state.zones.get(Zone.SERVE)
        sessions = {0: zone.process.pid} if zone else {}
        sessions.update({k: record.pid for k, record in state.serve_workers().items()})
        if node is not None:
            sessions = {node: sessions[node]} if node in sessions else {}
        return [proc for pid in sessions.values() for proc in session_members(pid)]

    def replicas(self, application: str | None = None) -> list[psutil.Process]:
        """The replicas of ``application`` (default: the model under test's), by process
        title ``ray::ServeReplica:{application}:{deployment}``: a scenario that kills "a
        replica" must kill one of the model it loads, not another model's."""
        marker = f"ray::ServeReplica:{application or self.application}:"
        return [p for p in self.serve_members() if process_title(p).startswith(marker)]

    def haproxy(self, node: int | None = None) -> list[psutil.Process]:
        """Serve's ingress processes (every node's, or node ``node``'s); never the front
        balancer, which runs in a session of its own."""
        return [p for p in self.serve_members(node) if process_name(p) == "haproxy"]

    def node_ingress_ready(self, node: int) -> bool:
        """Node ``node``'s own ingress answers readiness with 200 (several serve nodes)."""
        from bulkhead.platform.balancer import node_address

        try:
            answer = httpx.get(
                f"http://{node_address(self.platform.settings, node)}{READY}", timeout=2
            )
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def predict_ok(self) -> bool:
        try:
            with self.client() as client:
                return client.predict_response(["a fine film"]).status_code == 200
        except httpx.HTTPError:
            return False


def process_title(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def process_name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.Error:
        return ""


def wait(check: Callable[[], bool], limit_s: float, every_s: float = 0.25) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if check():
            return time.monotonic() - started
        time.sleep(every_s)
    return None


def scenario_result(
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


def skipped(scenario: str, fault: str, goal: str, why: str) -> ScenarioResult:
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
    result = scenario_result(scenario, fault, goal, empty, None, False, why)
    return result.model_copy(update={"verdict": "skipped"})
