"""A progressive rollout as the registry stores it: written by the control plane, read by
every replica with the alias it polls.

One registered-model tag (``ROLLOUT_TAG``) holds the rollout's current state; every decision
the controller makes is appended as its own tag (``ROLLOUT_EVENT_PREFIX`` + time + random),
never rewritten, like the champion's move history. The serve zone only reads them.

MLflow has no compare-and-set, so an ended rollout is also recorded under a tag of its own
(``ROLLOUT_END_PREFIX`` + its id), written once and before the state tag: a writer that read
the rollout as active a moment earlier (a controller's tick) may still overwrite the state
tag, but every reader takes the end record over it (``effective_rollout``), so an operator's
abort is never undone. Each write of the state also carries a ``revision`` one above the one
it read, and writers re-read after writing to notice a concurrent move.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.tags import valid_version

ROLLOUT_TAG = "bulkhead.rollout"
ROLLOUT_EVENT_PREFIX = "bulkhead.rollout_event."
ROLLOUT_END_PREFIX = "bulkhead.rollout_end."

# A request made with a client key is assigned to a version by the key's id (sticky for a
# rollout step); one made with the platform key is assigned at random with the step's weight.
MAX_CLIENT_KEY_CHARS = 256

Phase = Literal["shadow", "canary", "completed", "aborted"]
Decision = Literal["start", "advance", "hold", "abort", "complete"]


class RolloutPolicy(BaseModel):
    """When the controller advances, holds or aborts. Defaults suit a 2-core serve zone at a
    few dozen requests per second; every field is a `bulkhead rollout start` option."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shadow_for_s: float = Field(
        60, ge=0, le=86_400, description="Mirror-only time before the first canary step."
    )
    steps: list[int] = Field(
        default_factory=lambda: [5, 25, 50, 100],
        description="Canary weights in percent, increasing; the last step precedes promotion.",
    )
    step_for_s: float = Field(60, gt=0, le=86_400, description="Minimum time per canary step.")
    max_error_rate: float = Field(
        0.01, ge=0, le=1, description="Candidate error rate allowed above the champion's."
    )
    max_p99_ratio: float = Field(
        1.5, gt=1, le=100, description="Candidate p99 model latency / champion's, at most."
    )
    p99_slack_ms: float = Field(
        1.0,
        ge=0,
        le=10_000,
        description="p99 differences below this are noise, whatever their ratio (sub-ms models).",
    )
    min_agreement: float = Field(
        0.9, ge=0, le=1, description="Share of mirrored requests where both versions agree."
    )
    min_requests: int = Field(
        100,
        ge=1,
        le=1_000_000,
        description=(
            "Samples of each kind (candidate calls, mirrored texts) a phase needs before it "
            "advances, and before a limit is judged: a p99 from fewer than 100 is nearly the "
            "maximum, and one scheduler hiccup would abort a good candidate."
        ),
    )
    shadow_sample: float = Field(
        1.0, gt=0, le=1, description="Share of requests mirrored to the candidate."
    )

    @field_validator("steps")
    @classmethod
    def _increasing_percentages(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("at least one canary step")
        if any(not 0 < step <= 100 for step in steps):
            raise ValueError("canary steps are percentages in 1..100")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("canary steps must increase")
        return steps


class RolloutState(BaseModel):
    """What every replica follows: which version is the candidate and how much it gets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    model: str
    champion: str = Field(description="The champion when the rollout started.")
    candidate: str
    phase: Phase
    weight: int = Field(0, ge=0, le=100, description="Canary share in percent.")
    step: int = Field(0, ge=0, description="Index in policy.steps (canary phase).")
    policy: RolloutPolicy = Field(default_factory=RolloutPolicy)
    started_at: float
    updated_at: float
    reason: str = ""
    revision: int = Field(0, ge=0, description="One more on every write of the state.")

    @field_validator("champion", "candidate")
    @classmethod
    def _versions(cls, version: str) -> str:
        return valid_version(version)

    @model_validator(mode="after")
    def _consistent(self) -> RolloutState:
        if self.candidate == self.champion:
            raise ValueError("the candidate is already the champion")
        if self.phase == "shadow" and self.weight != 0:
            raise ValueError("a shadow phase sends no traffic to the candidate")
        return self

    @property
    def active(self) -> bool:
        return self.phase in ("shadow", "canary")


class StepFigures(BaseModel):
    """One version's figures over a window, as the controller read them."""

    model_config = ConfigDict(extra="forbid")

    requests: int = 0
    errors: int = 0
    p99_ms: float | None = None
    mirrored: int = 0
    agreed: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.mirrored if self.mirrored else None


class RolloutEvent(BaseModel):
    """One controller decision and the figures behind it (append-only in the registry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rollout_id: str
    at: float
    decision: Decision
    phase: Phase
    weight: int
    reason: str
    champion: StepFigures | None = None
    candidate: StepFigures | None = None


def canary_bucket(rollout_id: str, client_key: str) -> int:
    """0..9999 for a client key, fixed for the whole rollout: a key whose bucket is below the
    weight goes to the candidate, so as the weight grows a client once moved to the candidate
    stays there (it never flips back and forth between versions)."""
    digest = hashlib.sha256(f"{rollout_id}:{client_key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000


def parse_rollout(raw: object) -> RolloutState | None:
    """A rollout tag's value; anything unreadable counts as no rollout (the champion keeps
    all traffic, the safe side of every doubt)."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return RolloutState.model_validate_json(raw)
    except ValueError:
        return None


def effective_rollout(tags: Mapping[str, str]) -> RolloutState | None:
    """The rollout every reader follows: the state tag, unless the rollout it names has an
    end record, which wins (an overwrite of the state after the end never revives it)."""
    state = parse_rollout(tags.get(ROLLOUT_TAG))
    if state is None or not state.active:
        return state
    ended = parse_rollout(tags.get(ROLLOUT_END_PREFIX + state.id))
    if ended is not None and ended.id == state.id and not ended.active:
        return ended
    return state
