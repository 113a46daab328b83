"""``bulkhead chaos``: inject real faults into the running platform under load, count everything.

Each scenario runs a closed-loop load against the serve zone, injects one fault and reports
requests, failures (HTTP errors and connection errors apart), recovery time and a verdict
against its goal. One module per family of faults; a new scenario is a function taking a
``ChaosContext`` and returning a ``ScenarioResult``, registered in ``SCENARIOS`` below.
"""

from __future__ import annotations

from collections.abc import Callable

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult
from bulkhead.harness.chaos.compromised import registry_compromised
from bulkhead.harness.chaos.delivery import (
    rollout_disagreeing,
    rollout_erroring,
    rollout_good,
    rollout_slow,
    shadow_cost,
)
from bulkhead.harness.chaos.drift import drift
from bulkhead.harness.chaos.drop import drop_full, drop_stalled
from bulkhead.harness.chaos.inputs import hostile_input
from bulkhead.harness.chaos.models import bad_artifact, rollout
from bulkhead.harness.chaos.nodes import node_loss, rolling_restart
from bulkhead.harness.chaos.processes import ingress_crash, overload, replica_crash
from bulkhead.harness.chaos.registry import (
    registry_outage,
    registry_partition,
    replica_without_model,
)
from bulkhead.harness.chaos.tenancy import model_added, model_onboarded, model_scaling
from bulkhead.platform.core import Platform
from loadtests.texts import latest_snapshot, texts_from_snapshot

__all__ = ["NAMED_ONLY", "SCENARIOS", "ChaosContext", "ScenarioResult", "context"]

# In this order by default: the cheap, non-destructive ones first.
SCENARIOS: dict[str, Callable[[ChaosContext], ScenarioResult]] = {
    "hostile-input": hostile_input,
    "rollout": rollout,
    "bad-artifact": bad_artifact,
    "registry-compromised": registry_compromised,
    "rollout-good": rollout_good,
    "rollout-slow": rollout_slow,
    "rollout-erroring": rollout_erroring,
    "rollout-disagreeing": rollout_disagreeing,
    "shadow-cost": shadow_cost,
    "drop-stalled": drop_stalled,
    "drop-full": drop_full,
    "model-added": model_added,
    "model-onboarded": model_onboarded,
    "model-scaling": model_scaling,
    "registry-outage": registry_outage,
    "registry-partition": registry_partition,
    "replica-crash": replica_crash,
    "ingress-crash": ingress_crash,
    "overload": overload,
    "replica-without-model": replica_without_model,
    "node-loss": node_loss,
    "rolling-restart": rolling_restart,
}

# Run only when named: they retrain a model (minutes of the train zone) and change its champion.
NAMED_ONLY: dict[str, Callable[[ChaosContext], ScenarioResult]] = {"drift": drift}


def context(platform: Platform, model: str | None = None, quick: bool = False) -> ChaosContext:
    """``platform`` acts on the model under test (``model``, or the default one when None):
    its snapshot's texts, its routes, its replicas, its registry entries."""
    snapshot = platform.model_snapshot() or latest_snapshot(platform.paths.snapshots)
    texts = texts_from_snapshot(snapshot) if snapshot else ["a fine film", "a dull film"]
    return ChaosContext(
        platform=platform,
        endpoint=platform.serve_endpoint(),
        texts=texts,
        model=model,
        quick=quick,
    )
