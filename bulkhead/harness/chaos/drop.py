"""Faults of the payload drop under load: its keeper frozen (payload logging may lose records,
counted by every replica, never a request), and its feedback share full (feedback refused
with 503, never acknowledged and lost)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult, scenario_result, skipped, wait
from bulkhead.platform import drop_keeper
from bulkhead.platform.identity import Role
from bulkhead.platform.procs import is_alive, session_members
from bulkhead.platform.state import DROP_KEEPER
from contracts.drop import FEEDBACK_FILE_PREFIX, FeedbackRecord
from drop.keeper import KeeperStats
from drop.reader import DropContents, iter_drop

PAYLOAD_RECORDS = "ray_bulkhead_payload_records"


def keeper_process(leader: int) -> psutil.Process | None:
    """The keeper itself: the session's leader is the `/bin/sh` loop that restarts it
    (bulkhead/platform/drop_keeper.py), so signals meant for the keeper go to its child."""
    for proc in session_members(leader):
        with contextlib.suppress(psutil.Error):
            if proc.cmdline()[1:3] == ["-m", "drop.keeper"]:
                return proc
    return None


def payload_outcomes(urls: list[str], model: str) -> Counter[str]:
    """Every replica's payload-log records by outcome (sent, drop_busy, ...), summed."""
    found: Counter[str] = Counter()
    for url in urls:
        with contextlib.suppress(httpx.HTTPError):
            text = httpx.get(url, timeout=5).text
            for family in text_string_to_metric_families(text):
                if not family.name.startswith(PAYLOAD_RECORDS):
                    continue
                for sample in family.samples:
                    if sample.name.endswith("_created") or sample.labels.get("model") != model:
                        continue
                    found[sample.labels.get("outcome", "")] += int(sample.value)
    return found


def drop_stalled(ctx: ChaosContext, stall_s: float = 10.0) -> ScenarioResult:
    """SIGSTOP the drop keeper for ``stall_s`` under closed-loop load, then SIGCONT."""
    from bulkhead.operations.rollout import metrics_urls

    scenario = "drop stalled"
    goal = "0 failed requests; records dropped and counted while stalled; records land after"
    state = ctx.platform.load_state()
    leader = state.process(DROP_KEEPER)
    keeper = keeper_process(leader.pid) if leader is not None and is_alive(leader) else None
    if keeper is None:
        return skipped(scenario, "drop keeper frozen", goal, "no drop keeper running (`up`)")
    fault = f"drop keeper (pid {keeper.pid}) frozen with SIGSTOP for {stall_s:.0f} s under load"
    urls = metrics_urls(ctx.platform)
    model = ctx.platform.model_name

    def written() -> int:
        counted = drop_keeper.stats(ctx.platform.paths)
        return counted.records if counted is not None else 0

    before = payload_outcomes(urls, model)
    with ctx.load() as load:
        time.sleep(3)
        keeper.send_signal(signal.SIGSTOP)
        try:
            time.sleep(stall_s)
        finally:
            keeper.send_signal(signal.SIGCONT)
        resumed_with = written()
        landing = wait(lambda: written() > resumed_with + 10, 30, 0.5)
        time.sleep(2)
    # The replicas' metrics exported since the load stopped: the last scrape counts it all.
    time.sleep(ctx.platform.settings.serve.metrics_settle_s)
    after = payload_outcomes(urls, model)
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    counts = load.counts()
    lost = sum(v for k, v in delta.items() if k != "sent")
    passed = counts.failed == 0 and landing is not None and delta.get("sent", 0) > 0 and lost > 0
    return scenario_result(
        scenario,
        fault,
        goal,
        counts,
        landing,
        passed,
        f"payload records: {dict(sorted(delta.items()))} ({lost} dropped and counted); "
        f"records landing again {'never' if landing is None else f'{landing:.1f} s'} after "
        f"SIGCONT; p99 {counts.p99_ok_ms} ms",
    )


# The drop filled for the scenario: a sparse file (no disk used) of the keeper's whole
# feedback share, in a folder no model is named after, made and removed as the keeper's own
# identity (the operator's command never writes into the keeper's folder itself).
FILLER_FOLDER = "_chaos-drop-full"
FILLER_FILE = f"{FEEDBACK_FILE_PREFIX}filler.jsonl"
KEEPER_RESTART_S = 30.0
KEEPER_STATS_WAIT_S = 10.0


@dataclass(frozen=True)
class FeedbackOutcome:
    phase: str  # "before" | "full" | "after"
    status: int
    request_id: str
    retry_after: str  # the header's value, "" when absent


def _refused_full(ctx: ChaosContext, written_after: float = 0.0) -> int:
    """The keeper's count of feedback refused as full, from a stats file it wrote after
    ``written_after`` (it writes one every 2 s: a file read at once after the last refusal
    can miss the last two seconds of them)."""

    found: list[KeeperStats] = []

    def fresh() -> bool:
        counted = drop_keeper.stats(ctx.platform.paths)
        if counted is None or counted.time <= written_after:
            return False
        found.append(counted)
        return True

    wait(fresh, KEEPER_STATS_WAIT_S, 0.2)
    return found[0].feedback_refused_full if found else 0


def _empty_drop(ctx: ChaosContext, leader: int, folder: Path, cap: int) -> tuple[bool, str]:
    """The filler removed (as the keeper's identity) and the keeper restarted so that it
    measures the drop again; never raises: (room again, what went wrong)."""
    try:
        _as_keeper(ctx, "rm", "-rf", str(folder))
    except (OSError, subprocess.SubprocessError) as err:
        return False, f"removing {folder} failed: {err}"
    if not _restart_keeper(ctx, leader, lambda s: s.feedback_bytes < cap):
        return False, "the keeper did not come back with room"
    return True, ""


def _as_keeper(ctx: ChaosContext, *command: str) -> None:
    identities = ctx.platform.load_state().identities
    prefix = identities.of(Role.DROP).drop_prefix() if identities is not None else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=30)


def _restart_keeper(ctx: ChaosContext, leader: int, ready: Callable[[KeeperStats], bool]) -> bool:
    """Stop the keeper's process (it drains and exits; its loop starts it again within a
    second, as after any death) and wait until its stats say ``ready``."""
    asked = time.time()
    keeper = keeper_process(leader)
    if keeper is not None:
        with contextlib.suppress(psutil.Error):
            keeper.terminate()

    def restarted() -> bool:
        counted = drop_keeper.stats(ctx.platform.paths)
        return counted is not None and counted.time > asked and ready(counted)

    return wait(restarted, KEEPER_RESTART_S, 0.2) is not None


def _feedback_for(ctx: ChaosContext, phase: str, seconds: float) -> list[FeedbackOutcome]:
    """Predict, then send the predicted label back as feedback, for ``seconds``."""
    outcomes: list[FeedbackOutcome] = []
    until = time.monotonic() + seconds
    with ctx.client() as client:
        while time.monotonic() < until:
            answer = client.predict_response([ctx.texts[len(outcomes) % len(ctx.texts)]])
            if answer.status_code != 200:
                continue  # the prediction load counts failed predictions
            body = answer.json()
            sent = client.feedback_response(body["request_id"], body["predictions"][0]["label"])
            retry_after = sent.headers.get("retry-after", "")
            outcomes.append(
                FeedbackOutcome(phase, sent.status_code, body["request_id"], retry_after)
            )
    return outcomes


def _kept_feedback(ctx: ChaosContext, model: str) -> set[str]:
    found = DropContents()
    root = ctx.platform.paths.drop_records
    return {r.request_id for r in iter_drop(root, model, found) if isinstance(r, FeedbackRecord)}


def drop_full(ctx: ChaosContext, full_s: float = 8.0) -> ScenarioResult:
    """The drop's feedback share filled under load: feedback is refused with 503 and
    ``Retry-After`` while it is full, every 202 is a record in the drop, predictions never
    fail; room made again, feedback is kept again."""
    scenario = "drop full"
    goal = (
        "0 failed predictions; while full every feedback answered 503 with Retry-After; "
        "every 202 is in the drop (0 acknowledged lost); 202 again once there is room"
    )
    fault = "the drop's feedback share filled to its cap under load"
    keeper = ctx.platform.load_state().process(DROP_KEEPER)
    counted = drop_keeper.stats(ctx.platform.paths)
    if keeper is None or not is_alive(keeper) or counted is None:
        return skipped(scenario, fault, goal, "no drop keeper running (`up`)")
    if counted.feedback_max_bytes <= 0:
        return skipped(scenario, fault, goal, "the keeper does not report its feedback cap")
    cap = counted.feedback_max_bytes
    model = ctx.platform.model_name
    folder = ctx.platform.paths.drop_records / FILLER_FOLDER
    if folder.exists():  # a run killed half-way: its filler would keep the drop full
        _empty_drop(ctx, keeper.pid, folder, cap)
    outcomes: list[FeedbackOutcome] = []
    filled = emptied = False
    refused_before = refused_after = 0
    problems: list[str] = []
    with ctx.load() as load:
        outcomes += _feedback_for(ctx, "before", 3.0)
        try:
            _as_keeper(ctx, "mkdir", "-p", str(folder))
            _as_keeper(ctx, "truncate", "-s", str(cap), str(folder / FILLER_FILE))
            filled = _restart_keeper(ctx, keeper.pid, lambda s: s.feedback_bytes >= cap)
            if filled:
                refused_before = _refused_full(ctx)
                outcomes += _feedback_for(ctx, "full", full_s)
                refused_after = _refused_full(ctx, written_after=time.time())
        except (OSError, subprocess.SubprocessError) as err:
            problems.append(f"filling the drop failed: {err}")
        finally:
            emptied, why = _empty_drop(ctx, keeper.pid, folder, cap)
            problems += [why] if why else []
        outcomes += _feedback_for(ctx, "after", 3.0)
    kept = _kept_feedback(ctx, model)
    by_phase = {
        phase: Counter(o.status for o in outcomes if o.phase == phase)
        for phase in ("before", "full", "after")
    }
    acknowledged = [o for o in outcomes if o.status == 202]
    lost = [o.request_id for o in acknowledged if o.request_id not in kept]
    refusals = [o for o in outcomes if o.status != 202]
    # While full, a refusal is the keeper's "full" (Retry-After 60), not "unreachable" (5),
    # and the keeper counted each one.
    bad_refusals = [
        o
        for o in refusals
        if o.status != 503 or (o.retry_after != "60" if o.phase == "full" else not o.retry_after)
    ]
    full_refusals = by_phase["full"].get(503, 0)
    counted_full = refused_after - refused_before
    counts = load.counts()
    passed = (
        filled
        and emptied
        and counts.failed == 0
        and not lost
        and not bad_refusals
        and full_refusals > 0
        and counted_full >= full_refusals
        and set(by_phase["full"]) == {503}
        and not problems
        and set(by_phase["before"]) == {202}
        and set(by_phase["after"]) == {202}
    )
    shown = {phase: dict(sorted(c.items())) for phase, c in by_phase.items()}
    return scenario_result(
        scenario,
        f"{fault} ({cap / 1024**2:.0f} MiB)",
        goal,
        counts,
        None,
        passed,
        f"feedback by phase: {shown}; {len(acknowledged)} acknowledged, {len(lost)} of them "
        f"missing from the drop; {len(refusals)} refused ({len(bad_refusals)} not a 503 with "
        f"Retry-After); the keeper counted {counted_full} refused as full; filled: {filled}, "
        f"room again: {emptied}; p99 {counts.p99_ok_ms} ms"
        + (f"; {'; '.join(problems)}" if problems else ""),
    )
