"""The signer's loop: every version that passed the train gate gets the signer's verdict.

    python -m signer.service --snapshots DIR --key FILE [--interval S] [--once]

It runs as its own identity (``bulkhead-signer``), the only one that can read the signing
key, with registry credentials that may read bundles and write the verdict tags on a version
and nothing else (registry/auth_app.py). A verdict is final: a signed version keeps its
signature, a refused one its reason (``bulkhead models`` shows both); the operator's
``promote --force`` never makes the signer sign.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from contracts.signatures import SignerPolicy, load_private_key
from contracts.tags import (
    GATE_PASSED_TAG,
    SIGNATURE_REFUSED_TAG,
    SIGNATURE_TAG,
    SIGNER_FIGURES_TAG,
    valid_version,
)
from signer.decide import Verdict, decide

log = logging.getLogger("bulkhead.signer")


class Versions(Protocol):
    """The registry as the signer sees it."""

    def waiting(self) -> list[tuple[str, str, dict[str, str]]]:
        """(model, version, tags) of every version that passed the gate and has no verdict."""

    def download(self, model: str, version: str, destination: Path) -> Path: ...

    def record(self, model: str, version: str, tags: dict[str, str]) -> None: ...


class MlflowVersions:
    """Versions through MLflow's client, as the ``signer`` registry user."""

    def __init__(self, client: Any | None = None) -> None:
        if client is None:
            from mlflow import MlflowClient

            client = MlflowClient()
        self.client = client

    def waiting(self) -> list[tuple[str, str, dict[str, str]]]:
        found = []
        for registered in self.client.search_registered_models():
            for mv in self.client.search_model_versions(f"name='{registered.name}'"):
                tags = dict(mv.tags or {})
                if tags.get(GATE_PASSED_TAG) != "true":
                    continue
                if SIGNATURE_TAG in tags or SIGNATURE_REFUSED_TAG in tags:
                    continue
                found.append((registered.name, valid_version(mv.version), tags))
        return sorted(found, key=lambda row: (row[0], int(row[1])))

    def download(self, model: str, version: str, destination: Path) -> Path:
        import mlflow

        local: str = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model}/{version}", dst_path=str(destination)
        )
        return Path(local)

    def record(self, model: str, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model, version, key, value)


def verdict_tags(verdict: Verdict) -> dict[str, str]:
    """The tags a verdict leaves on the version: figures first, the verdict last (a reader
    that sees the verdict sees the figures it was taken on)."""
    tags: dict[str, str] = {}
    if verdict.figures is not None:
        tags[SIGNER_FIGURES_TAG] = verdict.figures.model_dump_json()
    if verdict.signed and verdict.signature is not None:
        tags[SIGNATURE_TAG] = verdict.signature
    else:
        tags[SIGNATURE_REFUSED_TAG] = verdict.reason[:5000]
    return tags


def sign_waiting(
    versions: Versions,
    snapshot_root: Path,
    key: ec.EllipticCurvePrivateKey,
    policy: SignerPolicy,
    scratch: Path,
) -> list[tuple[str, str, Verdict]]:
    """One pass: a verdict for every version waiting for one; what was decided."""
    decided = []
    for model, version, tags in versions.waiting():
        started = time.monotonic()
        folder = Path(tempfile.mkdtemp(prefix=f"{model}-v{version}-", dir=scratch))
        try:
            try:
                local = versions.download(model, version, folder)
            except Exception as err:  # the registry's errors are untyped; retried next pass
                log.warning("%s v%s: download failed, retried next pass: %s", model, version, err)
                continue
            verdict = decide(local, model, version, tags, snapshot_root, key, policy)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        versions.record(model, version, verdict_tags(verdict))
        log.info("%s v%s: %s (%.1f s)", model, version, verdict.reason, time.monotonic() - started)
        decided.append((model, version, verdict))
    return decided


def run(
    versions: Versions,
    snapshot_root: Path,
    key: ec.EllipticCurvePrivateKey,
    policy: SignerPolicy,
    scratch: Path,
    interval_s: float,
    stop: Callable[[], bool],
) -> None:
    while not stop():
        try:
            sign_waiting(versions, snapshot_root, key, policy, scratch)
        except Exception as err:  # an unreachable registry: the next pass tries again
            log.warning("pass failed, next in %.0f s: %s", interval_s, err)
        deadline = time.monotonic() + interval_s
        while time.monotonic() < deadline and not stop():
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True, help="The PEM signing key.")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--policy", type=str, default="{}", help="SignerPolicy as JSON.")
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s signer: %(message)s")
    from registry.credentials import RegistryCredentials

    credentials = RegistryCredentials.from_environment()
    if credentials is None:
        raise SystemExit("the signer was started without registry credentials")
    credentials.activate()
    key = load_private_key(args.key.read_bytes())
    policy = SignerPolicy.model_validate(json.loads(args.policy))
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    scratch = Path(tempfile.mkdtemp(prefix="signer-"))
    log.info("signing gate-passed versions; snapshots in %s; %s", args.snapshots, policy)
    try:
        versions = MlflowVersions()
        if args.once:
            sign_waiting(versions, args.snapshots, key, policy, scratch)
        else:
            run(
                versions,
                args.snapshots,
                key,
                policy,
                scratch,
                args.interval,
                lambda: bool(stopping),
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
