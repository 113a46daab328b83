"""The fixed choices of the CLI's options, as enums (so `--help` lists them, shell completion
offers them and a typo is refused before any work starts).

Kept here as plain names, not imported from the harness: importing every chaos scenario's
module would slow every `bulkhead` call. tests/unit/cli/test_choices.py holds each equal to
the registry it names.
"""

from __future__ import annotations

from enum import StrEnum


class Preset(StrEnum):
    """training/schema.py PRESETS."""

    TINY = "tiny"
    DEFAULT = "default"
    FULL = "full"


class Profile(StrEnum):
    """loadtests/profiles.py PROFILES."""

    SMOKE = "smoke"
    STEADY = "steady"
    STEP = "step"
    SPIKE = "spike"
    LATENCY = "latency"
    THROUGHPUT = "throughput"


class Scenario(StrEnum):
    """bulkhead/harness/chaos SCENARIOS in their default order, then NAMED_ONLY."""

    HOSTILE_INPUT = "hostile-input"
    ROLLOUT = "rollout"
    BAD_ARTIFACT = "bad-artifact"
    REGISTRY_COMPROMISED = "registry-compromised"
    ROLLOUT_GOOD = "rollout-good"
    ROLLOUT_SLOW = "rollout-slow"
    ROLLOUT_ERRORING = "rollout-erroring"
    ROLLOUT_DISAGREEING = "rollout-disagreeing"
    SHADOW_COST = "shadow-cost"
    DROP_STALLED = "drop-stalled"
    DROP_FULL = "drop-full"
    MODEL_ADDED = "model-added"
    MODEL_ONBOARDED = "model-onboarded"
    MODEL_SCALING = "model-scaling"
    REGISTRY_OUTAGE = "registry-outage"
    REGISTRY_PARTITION = "registry-partition"
    REPLICA_CRASH = "replica-crash"
    INGRESS_CRASH = "ingress-crash"
    OVERLOAD = "overload"
    REPLICA_WITHOUT_MODEL = "replica-without-model"
    NODE_LOSS = "node-loss"
    ROLLING_RESTART = "rolling-restart"
    DRIFT = "drift"


class Stack(StrEnum):
    """bulkhead/harness/bench.py SYSTEMS."""

    NULL = "null"
    FASTAPI = "fastapi"
    MLFLOW = "mlflow"
    KSERVE_V1 = "kserve-v1"
    KSERVE_V2 = "kserve-v2"
    MLSERVER = "mlserver"
    BENTOML = "bentoml"
    RAYSERVE = "rayserve"
    BULKHEAD = "bulkhead"
