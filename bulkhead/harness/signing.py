"""Signing a registered version as the model signer would, for the harness and the tests.

Why the harness signs: the chaos scenarios' rollout candidates are the champion's own bundle
made slow, erroring or wrong in ways no offline evaluation shows (or, for the broken one, in
ways serving's own checks must catch). The signer would refuse them only for lacking training
evidence, never for what they test; so they are signed with the platform's active key, as the
signer's registry user (the registry lets no one else write a signature), and serving meets
them as it would meet a signed model that misbehaves. Root's act, from the operator's side.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from bulkhead.platform import signing_keys
from bulkhead.platform.paths import StatePaths
from contracts import signatures
from contracts.tags import SIGNATURE_TAG, SIGNER_USER
from registry import bundle
from registry.credentials import RegistryCredentials

NOT_FROM_A_SNAPSHOT = "not-trained-on-a-snapshot"


def platform_key(paths: StatePaths) -> ec.EllipticCurvePrivateKey:
    return signatures.load_private_key(signing_keys.active_key_file(paths)[1].encode())


@contextmanager
def as_registry_user(paths: StatePaths, user: str) -> Iterator[Any]:
    """An MLflow client as one of the registry's users (the signer's, the admin's); the
    environment is put back after."""
    from mlflow import MlflowClient

    credentials = RegistryCredentials.from_file(paths.registry_credentials(user))
    wanted = credentials.client_env()
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield MlflowClient(tracking_uri=credentials.tracking_uri)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def sign_registered(
    paths: StatePaths,
    model: str,
    version: str,
    *,
    snapshot_digest: str = NOT_FROM_A_SNAPSHOT,
    run_id: str = "not-a-training-run",
    key: ec.EllipticCurvePrivateKey | None = None,
    as_version: str | None = None,
) -> str:
    """Download ``model`` ``version`` as the signer does, sign exactly those files (bound to
    ``as_version`` when given: a signature meant for another version) and record the
    signature on ``version``; returns it."""
    import mlflow

    with as_registry_user(paths, SIGNER_USER) as client, tempfile.TemporaryDirectory() as scratch:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{model}/{version}", dst_path=scratch
            )
        )
        binding = signatures.Binding(
            model=model,
            version=as_version or version,
            manifest_sha256=bundle.manifest_digest(local),
            snapshot_digest=snapshot_digest,
            training_run_id=run_id,
        )
        signature = signatures.sign(local, binding, key or platform_key(paths))
        client.set_model_version_tag(model, version, SIGNATURE_TAG, signature)
    return signature


def record_signature(paths: StatePaths, model: str, version: str, signature: str) -> None:
    """Put ``signature`` (another version's, a forged one) on ``version`` as the signer."""
    with as_registry_user(paths, SIGNER_USER) as client:
        client.set_model_version_tag(model, version, SIGNATURE_TAG, signature)
