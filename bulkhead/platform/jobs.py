"""Submit a zone's work as a Ray job to that zone's cluster and follow it to the end.

Jobs go through the zone's Jobs API with the zone's own token, exactly as a KubeRay
``RayJob`` would run them; the CLI never becomes a driver on a zone's cluster itself.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from bulkhead.platform.report import Reporter
from bulkhead.platform.secrets import read_secret
from bulkhead.platform.state import ZoneState
from contracts.jobs import parse_output


class JobOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    log_tail: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED" and self.error is None


def job_client(zone: ZoneState) -> Any:
    from ray.job_submission import JobSubmissionClient

    token = read_secret(zone.token_file)
    return JobSubmissionClient(
        zone.dashboard_url, headers={"Authorization": f"Bearer {token}"}, verify=True
    )


def run_job(
    zone: ZoneState,
    entrypoint: str,
    on_line: Callable[[str], None],
    timeout_s: float,
    submission_prefix: str,
) -> JobOutcome:
    """Submit, relay progress lines (``[<zone>] …``) as they appear, parse the result line."""
    client = job_client(zone)
    job_id = client.submit_job(
        entrypoint=entrypoint,
        submission_id=f"{submission_prefix}-{int(time.time())}-{time.time_ns() % 100000:05d}",
    )
    deadline = time.monotonic() + timeout_s
    seen = 0
    last_relayed = ""
    status = "PENDING"
    logs = ""
    while True:
        status = str(client.get_job_status(job_id).value)
        logs = client.get_job_logs(job_id)
        lines = logs.splitlines()
        for line in lines[seen:]:
            # Progress lines are "[<zone>] ..."; Ray prefixes worker output with its actor.
            marker = line.find(f"[{zone.zone.value}] ")
            # Ray may relay a worker's line twice (worker and controller); show it once.
            if marker != -1 and line[marker:] != last_relayed:
                last_relayed = line[marker:]
                on_line(last_relayed)
        seen = len(lines)
        if status in {"SUCCEEDED", "FAILED", "STOPPED"}:
            break
        if time.monotonic() > deadline:
            client.stop_job(job_id)
            return JobOutcome(
                job_id=job_id,
                status="TIMEOUT",
                error=f"job {job_id} did not finish within {timeout_s:.0f} s and was stopped",
                log_tail="\n".join(lines[-20:]),
            )
        time.sleep(1.0)
    return _parse_outcome(job_id, status, logs)


def _parse_outcome(job_id: str, status: str, logs: str) -> JobOutcome:
    """The job's last result line and last error line (a job may print both: a gate failure
    still registers a version)."""
    lines = logs.splitlines()
    result, error = parse_output(lines)
    if status != "SUCCEEDED" and error is None:
        error = f"job {job_id} ended {status}; last log lines:\n" + "\n".join(lines[-15:])
    return JobOutcome(
        job_id=job_id, status=status, result=result, error=error, log_tail="\n".join(lines[-20:])
    )


def run_module_job(
    reporter: Reporter,
    zone: ZoneState,
    module: str,
    encoded_spec: str,
    title: str,
    timeout_s: float,
) -> JobOutcome:
    """Run ``python -m <module> <spec>`` as a job on ``zone``, relaying progress lines; the
    same entry point a KubeRay RayJob would run."""
    entrypoint = f"{shlex.quote(sys.executable)} -m {module} {encoded_spec}"
    with reporter.step(title):
        return run_job(
            zone,
            entrypoint,
            on_line=reporter.relay,
            timeout_s=timeout_s,
            submission_prefix=module.replace(".", "-"),
        )
