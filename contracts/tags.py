"""Names the train side writes and the serve side reads: one definition, so that renaming one
side cannot silently stop the other from accepting what it wrote."""

from __future__ import annotations

import re

CHAMPION = "champion"
CHALLENGER = "challenger"

GATE_PASSED_TAG = "gate.passed"
GATE_FAILED_TAG = "gate.failed"
FORCED_TAG = "promotion_forced"
# sha256 of the bundle's manifest.json, set when the version is created: serving refuses a
# download whose manifest differs, so the files of a registered version cannot be replaced.
MANIFEST_DIGEST_TAG = "bulkhead.manifest_sha256"
# Legacy single-tag history (a JSON list); new moves are append-only event tags below.
HISTORY_TAG = "bulkhead.champion_history"
# One registered-model tag per champion move: ``<prefix><time_ns>-<random>`` -> JSON event.
HISTORY_EVENT_PREFIX = "bulkhead.champion_move."

# A version's evidence, written by the train job when it registers the version and read by
# the gate, `models`, `monitor` and `train` (is the champion current?). The metric tags hold
# the training metrics of the same names.
ACCURACY_TAG = "accuracy"
MACRO_F1_TAG = "macro_f1"
PARITY_TAG = "parity_max_abs_diff"
LATENCY_P50_TAG = "latency_p50_ms"
DATASET_DIGEST_TAG = "dataset_digest"
TRAINING_RUN_TAG = "training_run_id"
CODE_VERSION_TAG = "code_version"
PRESET_TAG = "preset"
EVIDENCE_TAGS = (ACCURACY_TAG, MACRO_F1_TAG, PARITY_TAG, DATASET_DIGEST_TAG)
# Set by the signer (signer/), never by the train zone: the OMS signature of the version's
# files and what it binds (contracts/signatures.py), or why the signer refused to sign it,
# and the figures the signer measured itself on the snapshot's held-out split (JSON).
SIGNATURE_TAG = "bulkhead.signature"
SIGNATURE_REFUSED_TAG = "bulkhead.signature.refused"
SIGNER_FIGURES_TAG = "bulkhead.signer_figures"
# The signed SLSA provenance statement beside the signature (contracts/provenance.py).
PROVENANCE_TAG = "bulkhead.provenance"
SIGNER_TAGS = frozenset({SIGNATURE_TAG, SIGNATURE_REFUSED_TAG, SIGNER_FIGURES_TAG, PROVENANCE_TAG})
# The registry user only the signer holds: the one that may write the tags above.
SIGNER_USER = "signer"
# Set by `promote` / `rollback` on the version they move.
PROMOTED_BY_TAG = "promoted_by"
PROMOTED_AT_TAG = "promoted_at"
PROMOTION_REASON_TAG = "promotion_reason"
ROLLED_BACK_TAG = "rolled_back"

_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")


def valid_version(version: object) -> str:
    """A registry version number as a string; anything else (paths, signs, spaces) refused.

    Serving turns versions into folder names, so a registry that answered ``../x`` must not
    get that far.
    """
    text = str(version)
    if not _VERSION.fullmatch(text):
        raise ValueError(f"model version {text[:40]!r} is not a positive integer")
    return text
