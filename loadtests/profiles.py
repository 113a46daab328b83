"""Load shapes as data: each profile is a list of stages (duration, users, spawn rate).

The same definitions drive headless runs (`bulkhead loadtest --profile NAME`) and the
benchmark, so a figure in a report always names the exact load that produced it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# A run never exceeds this, whatever a profile says: loadtests must end by themselves.
MAX_PROFILE_SECONDS = 540


class Stage(BaseModel):
    """Hold ``users`` closed-loop users (no think time) for ``duration_s`` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40)
    duration_s: float = Field(gt=0, le=MAX_PROFILE_SECONDS)
    users: int = Field(ge=0, le=512)
    spawn_rate: float = Field(gt=0, le=1000, description="Users started (or stopped) per second.")


class LoadProfile(BaseModel):
    """A named sequence of stages and the user classes that make the requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    stages: tuple[Stage, ...] = Field(min_length=1)
    user_classes: tuple[str, ...] = ("PredictUser", "BatchPredictUser", "OipInferUser")
    warmup_s: float = Field(
        0, ge=0, description="Seconds from the start left out of every figure in the summary."
    )

    @model_validator(mode="after")
    def _bounded(self) -> LoadProfile:
        if self.total_s > MAX_PROFILE_SECONDS:
            raise ValueError(
                f"profile lasts {self.total_s:.0f} s; the limit is {MAX_PROFILE_SECONDS}"
            )
        if self.warmup_s >= self.total_s:
            raise ValueError("warmup_s must be shorter than the profile")
        return self

    @property
    def total_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    def stage_at(self, elapsed_s: float) -> Stage | None:
        """The stage running ``elapsed_s`` seconds into the run; ``None`` once it is over."""
        end = 0.0
        for stage in self.stages:
            end += stage.duration_s
            if elapsed_s < end:
                return stage
        return None

    def stage_windows(self) -> list[tuple[Stage, float, float]]:
        """Each stage with its start and end, in seconds from the start of the run."""
        windows, start = [], 0.0
        for stage in self.stages:
            windows.append((stage, start, start + stage.duration_s))
            start += stage.duration_s
        return windows


def _one(
    name: str, description: str, users: int, seconds: float, warmup: float, classes: tuple[str, ...]
) -> LoadProfile:
    return LoadProfile(
        name=name,
        description=description,
        stages=(Stage(name=f"{users} users", duration_s=seconds, users=users, spawn_rate=users),),
        user_classes=classes,
        warmup_s=warmup,
    )


SINGLE = ("PredictUser",)

PROFILES: dict[str, LoadProfile] = {
    p.name: p
    for p in (
        LoadProfile(
            name="smoke",
            description="15 s, 2 then 4 users, every route: proves the path, for CI.",
            stages=(
                Stage(name="2 users", duration_s=6, users=2, spawn_rate=2),
                Stage(name="4 users", duration_s=9, users=4, spawn_rate=4),
            ),
        ),
        LoadProfile(
            name="steady",
            description="60 s at 8 users, mixed routes.",
            stages=(Stage(name="8 users", duration_s=60, users=8, spawn_rate=8),),
            warmup_s=5,
        ),
        LoadProfile(
            name="step",
            description=(
                "2 users, a step to 16 (above one replica's autoscaling target), then 1 user "
                "for long enough that Serve scales back down."
            ),
            stages=(
                Stage(name="baseline 2 users", duration_s=20, users=2, spawn_rate=2),
                Stage(name="step 16 users", duration_s=60, users=16, spawn_rate=16),
                Stage(name="cool-down 1 user", duration_s=70, users=1, spawn_rate=16),
            ),
            user_classes=SINGLE,
        ),
        LoadProfile(
            name="spike",
            description="A spike to 64 users, far beyond capacity, and back.",
            stages=(
                Stage(name="baseline 2 users", duration_s=15, users=2, spawn_rate=2),
                Stage(name="spike 64 users", duration_s=20, users=64, spawn_rate=64),
                Stage(name="recovery 2 users", duration_s=20, users=2, spawn_rate=64),
            ),
            user_classes=SINGLE,
        ),
        _one("latency", "1 user, one text per request: latency.", 1, 25, 5, SINGLE),
        _one("throughput", "8 users, one text per request: throughput.", 8, 28, 8, SINGLE),
    )
}


def get_profile(name: str) -> LoadProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
