"""The rollout controller: every tick, read the serve zone's per-version figures, decide,
and write the decision to the registry.

It runs with the operator's registry credentials (``bulkhead rollout watch``, or the
controller process `bulkhead up` keeps), never in the serve zone: replicas only read the
state it writes. A controller that stops mid-rollout loses nothing: the state and every
decision live in the registry, and the next controller picks the rollout up where it is.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from bulkhead.delivery.figures import Totals, Window, scrape
from bulkhead.delivery.policy import SERVED_P99_MIN_ANSWERS, decide, phase_length_s
from contracts.rollout import RolloutEvent, RolloutState, StepFigures
from registry.rollouts import RolloutConflict, RolloutStore

# The plot's figures come from a sliding window this long (the decisions use the whole phase).
RECENT_S = 10.0


class Tick(BaseModel):
    """One controller reading, kept for the report and its plot."""

    model_config = ConfigDict(extra="forbid")

    t: float
    phase: str
    weight: int
    champion: StepFigures
    candidate: StepFigures
    recent_champion: StepFigures
    recent_candidate: StepFigures
    shadow_dropped: int


class RolloutReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: RolloutState | None
    events: list[RolloutEvent]
    ticks: list[Tick]
    started_at: float


class RolloutController:
    def __init__(
        self,
        store: RolloutStore,
        metrics_urls: list[str],
        tick_s: float = 2.0,
        echo: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        read: Callable[[], Totals] | None = None,
    ) -> None:
        """``read``: where the figures come from (default: scrape ``metrics_urls``)."""
        self.store = store
        self.metrics_urls = metrics_urls
        self.tick_s = tick_s
        self.echo = echo
        self.sleep = sleep
        self._read = read or (lambda: scrape(self.metrics_urls, self.store.model_name))

    def _totals(self) -> Totals | None:
        try:
            return self._read()
        except Exception as err:  # an unreachable endpoint: hold, never decide on half
            self.echo(f"metrics unreadable ({type(err).__name__}: {str(err)[:120]}); holding")
            return None

    def run(self, max_s: float | None = None) -> RolloutReport:
        """Drive the current rollout until it completes or aborts (or ``max_s`` passes)."""
        started = time.time()
        state = self.store.current()
        report = RolloutReport(state=state, events=[], ticks=[], started_at=started)
        if state is None or not state.active:
            return report
        self.echo(
            f"rollout {state.id}: v{state.candidate} against champion v{state.champion}, "
            f"{state.phase} {state.weight}%"
        )
        try:
            report.state = self._drive(state, report, started, max_s)
        except RolloutConflict as err:
            # Another writer (the operator's abort, promote or rollback) moved or ended it:
            # their decision stands, this controller writes nothing over it.
            self.echo(f"rollout {state.id}: {err}; this controller stops")
            report.state = self.store.current()
        return report

    def _drive(
        self, state: RolloutState, report: RolloutReport, started: float, max_s: float | None
    ) -> RolloutState | None:
        base = self._totals() or {}
        phase_key = (state.phase, state.step)
        phase_started = time.time()
        recent: deque[tuple[float, Totals]] = deque()
        baseline_p99: float | None = None
        last_line = 0.0
        held_for: tuple[str, int] | None = None
        while max_s is None or time.time() - started < max_s:
            self.sleep(self.tick_s)
            current = self.store.current()
            if current is None or current.id != state.id or not current.active:
                self.echo(f"rollout {state.id} ended outside this controller")
                return current
            state = current
            if (state.phase, state.step) != phase_key:  # moved by another controller
                phase_key, phase_started = (state.phase, state.step), time.time()
                base = self._totals() or {}
            totals = self._totals()
            if totals is None:
                continue
            now = time.time()
            recent.append((now, totals))
            while recent and now - recent[0][0] > RECENT_S:
                recent.popleft()
            window = Window(base, totals)
            path = "shadow" if state.phase == "shadow" else "served"
            champion = self._champion(window, state)
            candidate = window.figures(state.candidate, path)
            fresh = Window(recent[0][1], totals)
            report.ticks.append(
                Tick(
                    t=now - started,
                    phase=state.phase,
                    weight=state.weight,
                    champion=champion,
                    candidate=candidate,
                    recent_champion=self._champion(fresh, state),
                    recent_candidate=fresh.figures(state.candidate, path),
                    shadow_dropped=window.shadow_dropped(state.candidate),
                )
            )
            # The champion's p99 of answers, kept for the 100 % step where it answers none.
            if state.phase == "canary" and champion.requests >= SERVED_P99_MIN_ANSWERS:
                baseline_p99 = champion.p99_ms
            paired = (
                window.figures(state.champion, "shadow"),
                window.figures(state.candidate, "shadow"),
            )
            elapsed = now - phase_started
            verdict = decide(state, elapsed, champion, candidate, baseline_p99, paired)
            if verdict.decision == "hold":
                if now - last_line >= 10:
                    self.echo(f"  {self._line(state, champion, candidate)}; hold: {verdict.reason}")
                    last_line = now
                # Past its length a phase holds only for want of samples: recorded once.
                if elapsed >= phase_length_s(state) and held_for != phase_key:
                    held_for = phase_key
                    report.events.append(
                        self.store.record(state, "hold", verdict.reason, champion, candidate)
                    )
                continue
            self.echo(
                f"  {self._line(state, champion, candidate)}; {verdict.decision}: {verdict.reason}"
            )
            if verdict.decision == "abort":
                state = self.store.abort(state, verdict.reason)
                report.events.append(
                    self.store.record(state, "abort", verdict.reason, champion, candidate)
                )
                break
            if verdict.decision == "complete":
                try:
                    completed = self.store.complete(state, verdict.reason)
                except RolloutConflict:
                    raise  # the operator ended it: nothing to abort over their decision
                except Exception as err:  # a refused promotion must not leave 100% canary on
                    why = f"promotion failed: {type(err).__name__}: {str(err)[:200]}"
                    state = self.store.abort(state, why)
                    report.events.append(self.store.record(state, "abort", why))
                    self.echo(f"  abort: {why}")
                    break
                state = completed
                report.events.append(
                    self.store.record(state, "complete", verdict.reason, champion, candidate)
                )
                break
            state = self._advance(state)
            report.events.append(
                self.store.record(state, "advance", verdict.reason, champion, candidate)
            )
            self.echo(f"rollout {state.id}: now {state.phase} {state.weight}%")
            phase_key, phase_started, base = (state.phase, state.step), time.time(), totals
        return state

    @staticmethod
    def _champion(window: Window, state: RolloutState) -> StepFigures:
        """The champion's answers; in the shadow phase with the p99 of its own shadow calls,
        the ones timed next to the candidate's on the same thread (a paired comparison)."""
        served = window.figures(state.champion, "served")
        if state.phase != "shadow":
            return served
        paired = window.figures(state.champion, "shadow")
        return served.model_copy(update={"p99_ms": paired.p99_ms})

    def _advance(self, state: RolloutState) -> RolloutState:
        steps = state.policy.steps
        if state.phase == "shadow":
            return self.store.update(state, phase="canary", step=0, weight=steps[0])
        step = state.step + 1
        return self.store.update(state, step=step, weight=steps[step])

    @staticmethod
    def _line(state: RolloutState, champion: StepFigures, candidate: StepFigures) -> str:
        agreement = candidate.agreement
        return (
            f"{state.phase} {state.weight}%: champion v{state.champion} {champion.requests} req "
            f"{champion.error_rate:.1%} err p99 {champion.p99_ms or 0:.1f} ms | candidate "
            f"v{state.candidate} {candidate.requests} req {candidate.error_rate:.1%} err "
            f"p99 {candidate.p99_ms or 0:.1f} ms, agreement "
            f"{'—' if agreement is None else f'{agreement:.0%}'} of {candidate.mirrored}"
        )
