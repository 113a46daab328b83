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
    ROLLOUT_EVENT_PREFIX,
    ROLLOUT_TAG,
    Decision,
    RolloutEvent,
    RolloutPolicy,
    RolloutState,
    StepFigures,
)
from contracts.tags import CHAMPION, FORCED_TAG, GATE_FAILED_TAG, GATE_PASSED_TAG
from registry.reader import parse_rollout
from registry.writer import PromotionRefused, RegistryWriter


class RolloutStore:
    def __init__(self, writer: RegistryWriter) -> None:
        self.writer = writer
        self.client: Any = writer.client
        self.model_name = writer.model_name

    # -------------------------------------------------------------- reading

    def current(self) -> RolloutState | None:
        tags = self.client.get_registered_model(self.model_name).tags or {}
        return parse_rollout(tags.get(ROLLOUT_TAG))

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
        approved the way a promotion requires (gate passed, or a recorded forced approval):
        replicas refuse to load anything else."""
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

    def update(self, state: RolloutState, **changes: Any) -> RolloutState:
        new = RolloutState.model_validate(
            {**state.model_dump(), **changes, "updated_at": time.time()}
        )
        self._write(new)
        return new

    def abort(self, state: RolloutState, reason: str) -> RolloutState:
        """All traffic back on the champion: replicas drop the candidate on their next poll."""
        return self.update(state, phase="aborted", weight=0, reason=reason)

    def complete(self, state: RolloutState, reason: str) -> RolloutState:
        """Promote the candidate (tags and history as any promotion), then close the rollout:
        in that order, so no poll ever sees the rollout closed with the old champion."""
        # A candidate rolled out on a forced approval is promoted on the same approval.
        forced = self.writer.tags(state.candidate).get(FORCED_TAG) == "true"
        self.writer.promote(state.candidate, reason=f"rollout {state.id}: {reason}", force=forced)
        return self.update(state, phase="completed", weight=100, reason=reason)

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
