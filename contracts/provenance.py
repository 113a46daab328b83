"""The signed provenance statement stored beside a model's signature: how the version was made.

The OMS signature says *which files* a trusted key passed; the provenance statement says
*where they came from*, in the shape supply-chain tools read: an in-toto statement with a
SLSA v1 provenance predicate (https://slsa.dev/provenance/v1), signed with the same key in
the same kind of envelope. Its subject is the same root digest as the signature's, so the two
cannot be paired with other files; its dependencies are the dataset snapshot (digest) and the
source file the snapshot was cut from (digest); its run is the training run; its byproducts
are the figures the signer measured itself. Everything in it is what the signer checked, not
what train claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.signatures import (
    STATEMENT_TYPE,
    Binding,
    SignatureError,
    sign_statement,
    signed_statement,
)

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# What kind of build this is: Bulkhead's train job, described in docs/security.md.
BUILD_TYPE = "https://github.com/bulkhead-ml/bulkhead/blob/main/docs/security.md#provenance"
BUILDER_ID = "bulkhead:train-zone"


class Made(BaseModel):
    """What the signer knows, checked, about how a version was made."""

    model_config = ConfigDict(frozen=True)

    binding: Binding
    root_digest: str = Field(description="The signed files' root digest (OMS subject).")
    snapshot_source: str = Field(description="The file the snapshot was cut from.")
    snapshot_source_sha256: str
    snapshot_created_at: str
    preset: str | None = None
    code_version: str | None = None
    figures: dict[str, float] = Field(default_factory=dict, description="The signer's own.")


def statement(made: Made) -> dict[str, object]:
    binding = made.binding
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": f"{binding.model}-v{binding.version}", "digest": {"sha256": made.root_digest}}
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "model": binding.model,
                    "preset": made.preset,
                    "code_version": made.code_version,
                },
                "internalParameters": {"manifest_sha256": binding.manifest_sha256},
                "resolvedDependencies": [
                    {
                        "name": "snapshot",
                        "uri": f"bulkhead-snapshot:{binding.snapshot_digest}",
                        "digest": {"sha256": binding.snapshot_digest},
                        "annotations": {"created_at": made.snapshot_created_at},
                    },
                    {
                        "name": made.snapshot_source,
                        "uri": f"bulkhead-source:{made.snapshot_source}",
                        "digest": {"sha256": made.snapshot_source_sha256},
                    },
                ],
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID},
                "metadata": {"invocationId": binding.training_run_id},
                "byproducts": [{"name": "signer-figures", "annotations": made.figures}],
            },
        },
    }


def sign(made: Made, key: ec.EllipticCurvePrivateKey) -> str:
    return sign_statement(statement(made), key)


def verify(
    envelope: str,
    trusted: Mapping[str, ec.EllipticCurvePublicKey],
    model: str,
    version: str,
    root_digest: str,
) -> tuple[str, Made]:
    """(key id, what it says) of a provenance statement a trusted key signed for ``model``
    ``version`` over the files whose root digest is ``root_digest`` (the signature's)."""
    key, found = signed_statement(envelope, trusted)
    if found.get("_type") != STATEMENT_TYPE or found.get("predicateType") != PREDICATE_TYPE:
        raise SignatureError("not a SLSA v1 provenance statement")
    try:
        ((subject),) = found["subject"]
        predicate: dict[str, Any] = found["predicate"]
        build = predicate["buildDefinition"]
        snapshot, source = build["resolvedDependencies"]
        made = Made(
            binding=Binding(
                model=build["externalParameters"]["model"],
                version=subject["name"].rsplit("-v", 1)[1],
                manifest_sha256=build["internalParameters"]["manifest_sha256"],
                snapshot_digest=snapshot["digest"]["sha256"],
                training_run_id=predicate["runDetails"]["metadata"]["invocationId"],
            ),
            root_digest=subject["digest"]["sha256"],
            snapshot_source=source["name"],
            snapshot_source_sha256=source["digest"]["sha256"],
            snapshot_created_at=snapshot["annotations"]["created_at"],
            preset=build["externalParameters"].get("preset"),
            code_version=build["externalParameters"].get("code_version"),
            figures=predicate["runDetails"]["byproducts"][0]["annotations"],
        )
    except (KeyError, TypeError, ValueError, IndexError, ValidationError) as err:
        raise SignatureError(f"the provenance statement is malformed: {err!r}"[:300]) from err
    if (made.binding.model, made.binding.version) != (model, version):
        raise SignatureError(
            f"the provenance is for {made.binding.model} v{made.binding.version}, "
            f"not {model} v{version}"
        )
    if made.root_digest != root_digest:
        raise SignatureError("the provenance names other files than the signature")
    return key, made
