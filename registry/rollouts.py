"""The control plane's side of a rollout in the registry: start, step, end, and the log.

Runs as the ``trainer`` user, like promotion (the serve zone's ``server`` user can only read
these tags). The state is one registered-model tag that replicas poll with the alias; each
decision is appended as a tag of its own, so two writers never overwrite each other's record.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from contracts.rollout import (
    ROLLOUT_END_PREFIX,
    ROLLOUT_EVENT_PREFIX,
    ROLLOUT_TAG,
    Decision,
    RolloutEvent,
    RolloutPolicy,
    RolloutState,
    StepFigures,
    effective_rollout,
)
from contracts.tags import (
    CHAMPION,
    FORCED_TAG,
    GATE_FAILED_TAG,
    GATE_PASSED_TAG,
    SIGNATURE_REFUSED_TAG,
    SIGNATURE_TAG,
)
from registry.writer import PromotionRefused, RegistryWriter


class RolloutConflict(PromotionRefused):
    """The rollout was moved or ended by someone else since it was read: nothing of this
    writer's decision was applied over theirs."""


class RolloutStore:
    def __init__(self, writer: RegistryWriter) -> None:
        self.writer = writer
        self.client: Any = writer.client
        self.model_name = writer.model_name

    # -------------------------------------------------------------- reading

    def current(self) -> RolloutState | None:
        tags = self.client.get_registered_model(self.model_name).tags or {}
        return effective_rollout(tags)

    def events(self, rollout_id: str | None = None) -> list[RolloutEvent]:
        tags = self.client.get_registered_model(self.model_name).tags or {}
        found = []
        for key, value in tags.items():
            if not key.startswith(ROLLOUT_EVENT_PREFIX):
                continue
            try:
                event = RolloutEvent.model_validate_json(value)
            except ValueError:
                continue
            if rollout_id is None or event.rollout_id == rollout_id:
                found.append(event)
        return sorted(found, key=lambda e: e.at)

    # -------------------------------------------------------------- writing

    def start(self, candidate: str, policy: RolloutPolicy, reason: str = "") -> RolloutState:
        """A new rollout of ``candidate`` against today's champion. The candidate must be
        approved the way a promotion requires (gate passed, or a recorded forced approval)
        and signed by the model signer: replicas refuse to load anything else."""
        existing = self.current()
        if existing is not None and existing.active:
            raise PromotionRefused(
                f"rollout {existing.id} of v{existing.candidate} is still {existing.phase}; "
                "abort it first"
            )
        champion = self.writer.alias_version(CHAMPION)
        if champion is None:
            raise PromotionRefused("there is no champion to roll out against")
        if candidate == champion:
            raise PromotionRefused(f"v{candidate} is already the champion")
        tags = self.writer.tags(candidate)
        if tags.get(GATE_PASSED_TAG) != "true" and tags.get(FORCED_TAG) != "true":
            why = tags.get(GATE_FAILED_TAG, "it has no gate result")
            raise PromotionRefused(
                f"version {candidate} is not approved ({why}); replicas would refuse it"
            )
        if SIGNATURE_TAG not in tags:
            verdict = tags.get(SIGNATURE_REFUSED_TAG)
            raise PromotionRefused(
                f"version {candidate} "
                + (
                    f"was refused by the model signer ({verdict})"
                    if verdict
                    else "is not signed yet (`bulkhead models` shows the signer's verdict)"
                )
                + "; replicas load only signed versions"
            )
        now = time.time()
        shadow = policy.shadow_for_s > 0
        state = RolloutState(
            id=f"{int(now)}-{secrets.token_hex(3)}",
            model=self.model_name,
            champion=champion,
            candidate=candidate,
            phase="shadow" if shadow else "canary",
            weight=0 if shadow else policy.steps[0],
            step=0,
            policy=policy,
            started_at=now,
            updated_at=now,
            reason=reason,
        )
        self._write(state)
        self.record(state, "start", reason or "rollout started")
        return state

    def _still(self, state: RolloutState) -> RolloutState:
        """The rollout as the registry has it now, which must be ``state``'s revision and
        still running; else ``RolloutConflict``."""
        latest = self.current()
        if latest is None or latest.id != state.id or not latest.active:
            now = "gone" if latest is None or latest.id != state.id else latest.phase
            raise RolloutConflict(f"rollout {state.id} was ended elsewhere ({now})")
        if latest.revision != state.revision:
            raise RolloutConflict(
                f"rollout {state.id} was moved elsewhere (revision {latest.revision}, "
                f"this writer read {state.revision})"
            )
        return latest

    def _next(self, state: RolloutState, **changes: Any) -> RolloutState:
        return RolloutState.model_validate(
            {
                **state.model_dump(),
                **changes,
                "updated_at": time.time(),
                "revision": state.revision + 1,
            }
        )

    def update(self, state: RolloutState, **changes: Any) -> RolloutState:
        """A step of a running rollout: refused when the rollout moved or ended since
        ``state`` was read, and checked again after writing."""
        self._still(state)
        new = self._next(state, **changes)
        self._write(new)
        after = self.current()
        if after is None or after.id != new.id or after.revision != new.revision:
            raise RolloutConflict(
                f"rollout {state.id} was moved or ended while this step was written"
            )
        return new

    def _end(self, state: RolloutState, phase: str, weight: int, reason: str) -> RolloutState:
        """The end record first (it wins over any later state write), then the state. The
        first end recorded stays: ending an ended rollout returns that end (for ``abort``,
        already done) and never replaces it."""
        key = ROLLOUT_END_PREFIX + state.id
        tags = self.client.get_registered_model(self.model_name).tags or {}
        ended = effective_rollout({ROLLOUT_TAG: state.model_dump_json(), key: tags.get(key, "")})
        if ended is not None and not ended.active:
            return ended
        new = self._next(state, phase=phase, weight=weight, reason=reason)
        self.client.set_registered_model_tag(self.model_name, key, new.model_dump_json())
        self._write(new)
        return new

    def abort(self, state: RolloutState, reason: str) -> RolloutState:
        """All traffic back on the champion: replicas drop the candidate on their next poll.
        Final: no later write of the state can revive it (``effective_rollout``)."""
        return self._end(state, "aborted", 0, reason)

    def end_active(self, reason: str) -> RolloutState | None:
        """End the running rollout, if any, before the operator moves the champion by hand
        (`promote`, `rollback`): a controller's later `complete` can then no longer promote
        over the operator's choice."""
        latest = self.current()
        if latest is None or not latest.active:
            return None
        ended = self.abort(latest, reason)
        self.record(ended, "abort", reason)
        return ended

    def complete(self, state: RolloutState, reason: str) -> RolloutState:
        """Promote the candidate (tags and history as any promotion), then close the rollout:
        in that order, so no poll ever sees the rollout closed with the old champion. Refused
        when the rollout was moved or ended since ``state`` was read (an operator's abort,
        promote or rollback), checked right before the promotion."""
        self._still(state)
        # A candidate rolled out on a forced approval is promoted on the same approval.
        forced = self.writer.tags(state.candidate).get(FORCED_TAG) == "true"
        self._still(state)
        self.writer.promote(state.candidate, reason=f"rollout {state.id}: {reason}", force=forced)
        ended = self._end(state, "completed", 100, reason)
        if ended.phase != "completed":  # ended by the operator in the moment of the promotion
            raise RolloutConflict(
                f"rollout {state.id} was {ended.phase} while v{state.candidate} was promoted: "
                "check `bulkhead models` and run `bulkhead rollback` if that was not wanted"
            )
        return ended

    def record(
        self,
        state: RolloutState,
        decision: Decision,
        reason: str,
        champion: StepFigures | None = None,
        candidate: StepFigures | None = None,
    ) -> RolloutEvent:
        event = RolloutEvent(
            rollout_id=state.id,
            at=time.time(),
            decision=decision,
            phase=state.phase,
            weight=state.weight,
            reason=reason,
            champion=champion,
            candidate=candidate,
        )
        key = f"{ROLLOUT_EVENT_PREFIX}{time.time_ns():020d}-{secrets.token_hex(4)}"
        self.client.set_registered_model_tag(self.model_name, key, event.model_dump_json())
        return event

    def _write(self, state: RolloutState) -> None:
        self.client.set_registered_model_tag(self.model_name, ROLLOUT_TAG, state.model_dump_json())
