"""``bulkhead verify MODEL VERSION``: the provenance chain of one version, checked link by link.

Data snapshot (digest, source and its digest, rows per split) -> training run (id, code
version, preset, the figures train recorded) -> bundle (manifest digest pinned at
registration, every file's digest, as downloaded now) -> signature (which key, whether it
verifies against the files and binds this model and version, the signer's own figures) ->
serving (which version the serve zone answers with now). Read as the registry's read-only
``server`` user; nothing is written.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from bulkhead.operations.errors import BadInput, OperationFailed
from bulkhead.platform import signing_keys
from bulkhead.platform.core import Platform
from contracts import provenance, signatures
from contracts import snapshot as snapshots
from contracts.tags import (
    ACCURACY_TAG,
    CODE_VERSION_TAG,
    DATASET_DIGEST_TAG,
    MACRO_F1_TAG,
    MANIFEST_DIGEST_TAG,
    PRESET_TAG,
    PROVENANCE_TAG,
    SIGNATURE_REFUSED_TAG,
    SIGNATURE_TAG,
    SIGNER_FIGURES_TAG,
    TRAINING_RUN_TAG,
    valid_version,
)


class SnapshotLink(BaseModel):
    digest: str | None
    found: bool = Field(description="The snapshot is on this platform and matches its files.")
    source: str | None = None
    source_sha256: str | None = None
    created_at: str | None = None
    rows: dict[str, int] = Field(default_factory=dict)
    problem: str | None = None


class TrainingLink(BaseModel):
    run_id: str | None
    code_version: str | None
    preset: str | None
    accuracy: str | None
    macro_f1: str | None


class BundleLink(BaseModel):
    manifest_sha256: str | None
    files: dict[str, str] = Field(default_factory=dict, description="Every file's sha256.")


class SignatureLink(BaseModel):
    state: str = Field(
        description="verified / signed by a retired key / invalid / refused by the signer / "
        "unsigned"
    )
    key_id: str | None = None
    reason: str | None = None
    signer_figures: dict[str, float] | None = None


class ProvenanceLink(BaseModel):
    """The signed SLSA provenance statement beside the signature (contracts/provenance.py)."""

    state: str = Field(description="verified / invalid / none")
    builder: str | None = None
    run_id: str | None = None
    snapshot_digest: str | None = None
    source: str | None = None
    source_sha256: str | None = None
    problem: str | None = None


class ServingLink(BaseModel):
    version_served: str | None
    serves_this: bool
    signed_by: str | None = Field(None, description="Key the replica verified it under.")
    snapshot_digest: str | None = Field(None, description="As the replica's signature binds it.")
    problem: str | None = None


class Provenance(BaseModel):
    model: str
    version: str
    snapshot: SnapshotLink
    training: TrainingLink
    bundle: BundleLink
    signature: SignatureLink
    provenance: ProvenanceLink
    serving: ServingLink
    holds: bool = Field(
        description="Every link checks: snapshot found, signature and provenance verified "
        "and naming that snapshot and run."
    )


def verify_version(platform: Platform, version: str) -> Provenance:
    try:
        version = valid_version(version)
    except ValueError as err:
        raise BadInput(str(err)) from err
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from registry.reader import RegistryReader

    model = platform.model_name
    platform.credentials("server").activate()
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # the chain is the output
    client = MlflowClient()
    try:
        mv = client.get_model_version(model, version)
    except MlflowException as err:
        raise BadInput(f"{model} v{version}: {err.message}") from err
    tags = dict(mv.tags or {})
    snapshot = _snapshot_link(platform, tags.get(DATASET_DIGEST_TAG))
    training = TrainingLink(
        run_id=tags.get(TRAINING_RUN_TAG) or mv.run_id,
        code_version=tags.get(CODE_VERSION_TAG),
        preset=tags.get(PRESET_TAG),
        accuracy=tags.get(ACCURACY_TAG),
        macro_f1=tags.get(MACRO_F1_TAG),
    )
    with tempfile.TemporaryDirectory(prefix="bulkhead-verify-") as scratch:
        reader = RegistryReader(client, poll_route=False)
        try:
            folder = reader.download(reader.pinned(model, version), Path(scratch))
        except (MlflowException, OSError) as err:
            raise OperationFailed(f"could not download {model} v{version}: {err}") from err
        bundle = BundleLink(
            manifest_sha256=tags.get(MANIFEST_DIGEST_TAG),
            files=signatures.file_digests(folder),
        )
        signature, verified = _signature_link(platform, folder, model, version, tags)
    made = _provenance_link(platform, model, version, tags, verified)
    serving = _serving_link(platform, model, version)
    return Provenance(
        model=model,
        version=version,
        snapshot=snapshot,
        training=training,
        bundle=bundle,
        signature=signature,
        provenance=made,
        serving=serving,
        holds=snapshot.found
        and signature.state == "verified"
        and made.state == "verified"
        and made.snapshot_digest == snapshot.digest
        and made.run_id == training.run_id,
    )


def _snapshot_link(platform: Platform, digest: str | None) -> SnapshotLink:
    if not digest:
        return SnapshotLink(digest=None, found=False, problem="the version names no snapshot")
    for folder in sorted(platform.paths.snapshots.glob(f"*-{digest[:12]}")):
        try:
            manifest = snapshots.verify(folder)
        except (OSError, ValueError, snapshots.SnapshotError) as err:
            return SnapshotLink(digest=digest, found=False, problem=str(err)[:300])
        if manifest.digest != digest:
            continue
        return SnapshotLink(
            digest=digest,
            found=True,
            source=manifest.source.name,
            source_sha256=manifest.source.sha256,
            created_at=manifest.created_at,
            rows={name: split.rows for name, split in manifest.splits.items()},
        )
    return SnapshotLink(digest=digest, found=False, problem="no such snapshot on this platform")


def _provenance_link(
    platform: Platform,
    model: str,
    version: str,
    tags: dict[str, str],
    verified: signatures.VerifiedSignature | None,
) -> ProvenanceLink:
    if PROVENANCE_TAG not in tags:
        return ProvenanceLink(state="none", problem="no provenance statement beside it")
    if verified is None:
        return ProvenanceLink(state="invalid", problem="the signature it stands beside fails")
    trusted = signatures.load_public_keys(signing_keys.public_keys(platform.paths).values())
    try:
        _, made = provenance.verify(
            tags[PROVENANCE_TAG], trusted, model, version, verified.root_digest
        )
    except signatures.SignatureError as err:
        return ProvenanceLink(state="invalid", problem=str(err))
    return ProvenanceLink(
        state="verified",
        builder=provenance.BUILDER_ID,
        run_id=made.binding.training_run_id,
        snapshot_digest=made.binding.snapshot_digest,
        source=made.snapshot_source,
        source_sha256=made.snapshot_source_sha256,
    )


def _signature_link(
    platform: Platform, folder: Path, model: str, version: str, tags: dict[str, str]
) -> tuple[SignatureLink, signatures.VerifiedSignature | None]:
    figures = None
    if SIGNER_FIGURES_TAG in tags:
        try:
            loaded = json.loads(tags[SIGNER_FIGURES_TAG])
            figures = {k: float(v) for k, v in loaded.items() if isinstance(v, int | float)}
        except (ValueError, AttributeError):
            figures = None
    if SIGNATURE_TAG not in tags:
        if SIGNATURE_REFUSED_TAG in tags:
            return SignatureLink(
                state="refused by the signer",
                reason=tags[SIGNATURE_REFUSED_TAG],
                signer_figures=figures,
            ), None
        return SignatureLink(state="unsigned", reason="the signer has given no verdict"), None
    trusted = signatures.load_public_keys(signing_keys.public_keys(platform.paths).values())
    try:
        found = signatures.verify(
            folder, tags[SIGNATURE_TAG], trusted, model, version, tags.get(MANIFEST_DIGEST_TAG)
        )
    except signatures.SignatureError as err:
        retired = signatures.load_public_keys(
            signing_keys.retired_public_keys(platform.paths).values()
        )
        try:
            old = signatures.verify(
                folder, tags[SIGNATURE_TAG], retired, model, version, tags.get(MANIFEST_DIGEST_TAG)
            )
        except signatures.SignatureError:
            return SignatureLink(state="invalid", reason=str(err), signer_figures=figures), None
        return SignatureLink(
            state="signed by a retired key",
            key_id=old.key_id,
            reason="the serve zone no longer trusts this key: the version is not served",
            signer_figures=figures,
        ), None
    return SignatureLink(state="verified", key_id=found.key_id, signer_figures=figures), found


def _serving_link(platform: Platform, model: str, version: str) -> ServingLink:
    import httpx

    from serving.client import ServeClient, ServeError

    try:
        with ServeClient(platform.serve_endpoint(), timeout_s=3, model=model) as client:
            seen = client.status()
    except (ServeError, httpx.HTTPError, OSError, ValueError) as err:
        return ServingLink(version_served=None, serves_this=False, problem=str(err)[:200])
    return ServingLink(
        version_served=seen.version,
        serves_this=seen.version == version,
        signed_by=seen.signed_by,
        snapshot_digest=seen.snapshot_digest,
    )
