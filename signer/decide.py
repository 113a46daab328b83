"""Whether the signer signs one downloaded version, and the signature when it does.

Every check here distrusts the train zone: the manifest is checked against the digest the
registry pinned at registration and every file against the manifest; the version's lineage
tags must agree with the manifest train wrote into the bundle; the held-out figures are
measured again (signer/evaluate.py) and must agree with the ones train recorded; the floors
are the operator's (the signer's policy), not the run's own config, which a compromised train
zone could lower. Only then are the files signed, bound to the model, version, manifest,
snapshot and run (contracts/signatures.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict

from contracts import provenance
from contracts import snapshot as snapshots
from contracts.bundle import BundleError
from contracts.signatures import (
    Binding,
    SignerPolicy,
    file_digests,
    root_digest,
    sign_statement,
    statement,
)
from contracts.tags import (
    ACCURACY_TAG,
    CODE_VERSION_TAG,
    DATASET_DIGEST_TAG,
    GATE_PASSED_TAG,
    MACRO_F1_TAG,
    MANIFEST_DIGEST_TAG,
    PRESET_TAG,
    TRAINING_RUN_TAG,
)
from registry import bundle
from signer.evaluate import HeldOutFigures, measure


@dataclass(frozen=True)
class Champion:
    """The model's champion as the signer downloaded it, to measure on the same split."""

    version: str
    folder: Path
    pin: str | None


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    signed: bool
    reason: str
    figures: HeldOutFigures | None = None
    signature: str | None = None
    # The signed SLSA provenance statement beside the signature (contracts/provenance.py).
    provenance: str | None = None
    # The champion measured on the same held-out split (None: no champion, or not comparable).
    champion_version: str | None = None
    champion_figures: HeldOutFigures | None = None


def find_snapshot(root: Path, digest: str) -> Path | None:
    """The snapshot under ``root`` whose manifest carries ``digest`` (folders are named
    ``<source>-<digest[:12]>``; the manifest, not the name, decides)."""
    for folder in sorted(root.glob(f"*-{digest[:12]}")):
        try:
            if snapshots.load_manifest(folder).digest == digest:
                return folder
        except (OSError, ValueError):
            continue
    return None


def _recorded(tags: dict[str, str], key: str) -> float | None:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return None


def decide(
    folder: Path,
    model: str,
    version: str,
    tags: dict[str, str],
    snapshot_root: Path,
    key: ec.EllipticCurvePrivateKey,
    policy: SignerPolicy,
    champion: Champion | None = None,
) -> Verdict:
    """Sign or refuse; a refusal's reason is what `bulkhead models` shows."""
    if tags.get(GATE_PASSED_TAG) != "true":
        return Verdict(signed=False, reason="did not pass the train gate")
    pin = tags.get(MANIFEST_DIGEST_TAG)
    if not pin:
        return Verdict(signed=False, reason=f"no {MANIFEST_DIGEST_TAG} recorded")
    try:
        manifest = bundle.verify(folder, pin)
    except BundleError as err:
        return Verdict(signed=False, reason=f"bundle does not match its pin: {err}")
    digest = tags.get(DATASET_DIGEST_TAG, "")
    if digest != manifest.dataset_digest:
        return Verdict(
            signed=False,
            reason=f"the version names snapshot {digest[:12] or 'none'}, its bundle "
            f"{manifest.dataset_digest[:12]}",
        )
    run_id = tags.get(TRAINING_RUN_TAG) or manifest.training_run_id
    if run_id != manifest.training_run_id:
        return Verdict(signed=False, reason="the version and its bundle name different runs")
    snapshot = find_snapshot(snapshot_root, digest)
    if snapshot is None:
        return Verdict(signed=False, reason=f"snapshot {digest[:12]} is not where the signer reads")
    try:
        figures = measure(folder, manifest, snapshot)
    except (OSError, ValueError, RuntimeError, snapshots.SnapshotError) as err:
        return Verdict(signed=False, reason=f"could not evaluate the bundle: {err}"[:500])
    for name, tag, measured in (
        ("accuracy", ACCURACY_TAG, figures.accuracy),
        ("macro-F1", MACRO_F1_TAG, figures.macro_f1),
    ):
        recorded = _recorded(tags, tag)
        if recorded is None:
            return Verdict(signed=False, reason=f"no {name} recorded", figures=figures)
        if abs(recorded - measured) > policy.tolerance:
            return Verdict(
                signed=False,
                reason=f"train recorded {name} {recorded:.4f}; the signer measures "
                f"{measured:.4f} on {figures.examples} held-out texts",
                figures=figures,
            )
    for name, measured, floor in (
        ("accuracy", figures.accuracy, policy.min_accuracy),
        ("macro-F1", figures.macro_f1, policy.min_macro_f1),
    ):
        if measured < floor:
            return Verdict(
                signed=False,
                reason=f"{name} {measured:.4f} < the signer's floor {floor:.4f}",
                figures=figures,
            )
    compared = _champion_figures(champion, version, manifest, snapshot)
    # The gate's margin plus the measurement tolerance: the signer's figures may differ from
    # train's by that much without anything faked, and a gate that passed honestly near its
    # margin must not be refused for it.
    margin = policy.max_regression + policy.tolerance
    if compared is not None and figures.accuracy < compared.accuracy - margin:
        assert champion is not None
        return Verdict(
            signed=False,
            reason=f"accuracy {figures.accuracy:.4f} regresses against champion "
            f"v{champion.version} ({compared.accuracy:.4f} on the same {figures.examples} "
            f"held-out texts, margin {margin:g})",
            figures=figures,
            champion_version=champion.version,
            champion_figures=compared,
        )
    binding = Binding(
        model=model,
        version=version,
        manifest_sha256=pin,
        snapshot_digest=digest,
        training_run_id=run_id,
    )
    digests = file_digests(folder)
    source = snapshots.load_manifest(snapshot)
    made = provenance.Made(
        binding=binding,
        root_digest=root_digest(digests),
        snapshot_source=source.source.name,
        snapshot_source_sha256=source.source.sha256,
        snapshot_created_at=source.created_at,
        preset=tags.get(PRESET_TAG),
        code_version=tags.get(CODE_VERSION_TAG),
        figures=figures.model_dump(),
    )
    return Verdict(
        signed=True,
        reason=f"signed: accuracy {figures.accuracy:.4f}, macro-F1 {figures.macro_f1:.4f}",
        figures=figures,
        signature=sign_statement(statement(digests, binding), key),
        provenance=provenance.sign(made, key),
        champion_version=champion.version if compared is not None and champion else None,
        champion_figures=compared,
    )


def _champion_figures(
    champion: Champion | None,
    version: str,
    manifest: bundle.BundleManifest,
    snapshot: Path,
) -> HeldOutFigures | None:
    """The champion measured on the version's held-out split; None when there is nothing to
    compare (no champion, the version is the champion, another label set: a new task). A
    champion whose files do not hold is not compared against either: its own load refuses it."""
    if champion is None or champion.version == version:
        return None
    try:
        theirs = bundle.verify(champion.folder, champion.pin)
    except BundleError:
        return None
    if theirs.labels != manifest.labels:
        return None
    try:
        return measure(champion.folder, theirs, snapshot)
    except (OSError, ValueError, RuntimeError, snapshots.SnapshotError):
        return None
