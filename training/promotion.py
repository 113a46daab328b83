"""After registration: judge the version at the gate and, when it beats the champion, promote.

Gate and promotion are recorded on the registry as the ``trainer`` user; the version is
registered (with its evidence) before either, so a crash here leaves evidence, never an alias
pointing at an unjudged version.
"""

from __future__ import annotations

from typing import Any

from contracts.tags import CHAMPION
from registry.gate import Evidence, GateResult, beats_champion
from registry.gate import evaluate as gate_evaluate
from training.head_to_head import champion_evidence as champion_evidence_for
from training.progress import log, maybe_crash
from training.schema import TrainJobSpec


def gate_and_promote(
    spec: TrainJobSpec, writer: Any, version: str, metrics: dict[str, float], dataset_digest: str
) -> tuple[GateResult, bool]:
    """Record the gate's verdict on ``version``; promote it when allowed and better."""
    champion = writer.alias_version(CHAMPION)
    champion_evidence, on_this_split = champion_evidence_for(
        spec.model_name, writer, champion, spec.snapshot, dataset_digest
    )
    candidate = Evidence(
        accuracy=metrics["accuracy"],
        macro_f1=metrics["macro_f1"],
        parity_max_abs_diff=metrics["parity_max_abs_diff"],
        dataset_digest=dataset_digest,
    )
    gate = gate_evaluate(spec.config.gate, candidate, champion_evidence, champion, on_this_split)
    writer.record_gate(version, gate)
    maybe_crash(spec.inject_fault, "after-gate")
    promoted = False
    if gate.passed and spec.auto_promote:
        if beats_champion(spec.config.gate, candidate, champion_evidence):
            writer.promote(version, reason="auto-promote: passed the gate")
            promoted = True
        else:
            log(
                f"not promoted: accuracy {candidate.accuracy:.4f} does not beat champion "
                f"v{champion} ({champion_evidence.accuracy:.4f}); aliased challenger"
                if champion_evidence
                else "not promoted"
            )
    return gate, promoted
