"""The signer's loop: every version that passed the train gate gets the signer's verdict.

    python -m signer.service --snapshots DIR --key FILE [--trusted RING] [--interval S] [--once]

It runs as its own identity (``bulkhead-signer``), the only one that can read the signing
key, with registry credentials that may read bundles and write the verdict tags on a version
and nothing else (registry/auth_app.py). A verdict is final: a signed version keeps its
signature, a refused one its reason (``bulkhead models`` shows both); the operator's
``promote --force`` never makes the signer sign.

After a key rotation the signer re-signs, with the new key, every version a key of its ring
(``--trusted``: public keys the operator still trusts) signed: the same binding, the files
checked against the old signature first. Only then can the operator retire the old key
without stopping what is served.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from contracts import provenance
from contracts.registry_api import CHANGES_ROUTE
from contracts.signatures import (
    KeyRing,
    SignatureError,
    SignerPolicy,
    key_hint,
    key_id,
    load_private_key,
    sign,
    verify,
)
from contracts.tags import (
    CHAMPION,
    GATE_PASSED_TAG,
    MANIFEST_DIGEST_TAG,
    PROVENANCE_TAG,
    SIGNATURE_REFUSED_TAG,
    SIGNATURE_TAG,
    SIGNER_FIGURES_TAG,
    valid_version,
)
from signer.decide import Champion, Verdict, decide

log = logging.getLogger("bulkhead.signer")


class Versions(Protocol):
    """The registry as the signer sees it."""

    def waiting(self) -> list[tuple[str, str, dict[str, str]]]:
        """(model, version, tags) of every version that passed the gate and has no verdict."""

    def signed_by_others(self, key_id: str) -> list[tuple[str, str, dict[str, str]]]:
        """(model, version, tags) of every version signed by a key other than ``key_id``."""

    def champion(self, model: str) -> tuple[str, dict[str, str]] | None:
        """The model's champion version and its tags (None: no champion)."""

    def download(self, model: str, version: str, destination: Path) -> Path: ...

    def record(self, model: str, version: str, tags: dict[str, str]) -> None: ...


# Listing every version of every model (with their signature and provenance tags) cost the
# registry ~12 % of a core at idle with one version per model, every 2 s, and grows with the
# versions. The listing is kept between passes while the registry's changes route says no
# write has passed it, and made afresh at least this often (with several registry processes
# a write passes one of them only).
RELIST_AT_LEAST_EVERY_S = 30.0


class MlflowVersions:
    """Versions through MLflow's client, as the ``signer`` registry user."""

    def __init__(
        self, client: Any | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.changes_route = client is None
        if client is None:
            from mlflow import MlflowClient

            client = MlflowClient()
        self.client = client
        self._clock = clock
        self._listed: list[tuple[str, str, dict[str, str]]] | None = None
        self._listed_at = 0.0
        self._changes_etag = ""

    def _every(self) -> list[tuple[str, str, dict[str, str]]]:
        if self._listed is not None and not self._stale():
            return self._listed
        if self._listed is None:  # first, or after this signer's own write
            self._changes_etag = self._current_etag()
        listed_at = self._clock()
        found = []
        for registered in self.client.search_registered_models():
            for mv in self.client.search_model_versions(f"name='{registered.name}'"):
                found.append((registered.name, valid_version(mv.version), dict(mv.tags or {})))
        self._listed = sorted(found, key=lambda row: (row[0], int(row[1])))
        self._listed_at = listed_at
        return self._listed

    def _stale(self) -> bool:
        """Whether the last listing may miss a write: the registry's changes route moved
        (asked before listing again, so a write landing meanwhile moves it once more), it
        cannot say, or the listing is older than ``RELIST_AT_LEAST_EVERY_S``."""
        if self._clock() - self._listed_at >= RELIST_AT_LEAST_EVERY_S:
            self._changes_etag = self._current_etag()
            return True
        etag = self._current_etag()
        moved = not etag or etag != self._changes_etag
        self._changes_etag = etag
        return moved

    def _current_etag(self) -> str:
        """The registry's changes ETag ("" when it cannot say: every pass lists afresh)."""
        if not self.changes_route:
            return ""
        from mlflow.tracking import get_tracking_uri
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        headers = {"If-None-Match": self._changes_etag} if self._changes_etag else {}
        try:
            response = http_request(  # type: ignore[no-untyped-call]
                get_default_host_creds(get_tracking_uri()),  # type: ignore[no-untyped-call]
                CHANGES_ROUTE,
                "GET",
                extra_headers=headers,
                raise_on_status=False,
                max_retries=0,
                timeout=10,
            )
        except Exception:  # unreachable: the listing that follows fails and says so
            return ""
        if response.status_code == 304:
            return self._changes_etag
        if response.status_code == 404 and "error_code" not in response.text:
            self.changes_route = False  # a stock MLflow server: list every pass
        if response.status_code != 200:
            return ""
        return str(response.headers.get("ETag", ""))

    def waiting(self) -> list[tuple[str, str, dict[str, str]]]:
        return [
            row
            for row in self._every()
            if row[2].get(GATE_PASSED_TAG) == "true"
            and SIGNATURE_TAG not in row[2]
            and SIGNATURE_REFUSED_TAG not in row[2]
        ]

    def signed_by_others(self, key_id: str) -> list[tuple[str, str, dict[str, str]]]:
        return [
            row
            for row in self._every()
            if SIGNATURE_TAG in row[2] and key_hint(row[2][SIGNATURE_TAG]) != key_id
        ]

    def champion(self, model: str) -> tuple[str, dict[str, str]] | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(model, CHAMPION)
        except MlflowException:  # no champion yet
            return None
        return valid_version(mv.version), dict(mv.tags or {})

    def download(self, model: str, version: str, destination: Path) -> Path:
        import mlflow

        local: str = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model}/{version}", dst_path=str(destination)
        )
        return Path(local)

    def record(self, model: str, version: str, tags: dict[str, str]) -> None:
        self._listed = None  # whatever happens, the next pass lists afresh
        for key, value in tags.items():
            self.client.set_model_version_tag(model, version, key, value)


def verdict_tags(verdict: Verdict) -> dict[str, str]:
    """The tags a verdict leaves on the version: figures first, the verdict last (a reader
    that sees the verdict sees the figures it was taken on)."""
    tags: dict[str, str] = {}
    if verdict.figures is not None:
        figures: dict[str, object] = verdict.figures.model_dump()
        if verdict.champion_figures is not None:
            figures["champion_version"] = verdict.champion_version
            figures["champion_accuracy"] = verdict.champion_figures.accuracy
        tags[SIGNER_FIGURES_TAG] = json.dumps(figures)
    if verdict.signed and verdict.signature is not None:
        if verdict.provenance is not None:  # beside the signature, before it
            tags[PROVENANCE_TAG] = verdict.provenance
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
    trusted: Mapping[str, ec.EllipticCurvePublicKey] | None = None,
) -> list[tuple[str, str, Verdict]]:
    """One pass: a verdict for every version waiting for one; what was decided. With the
    key ring (``trusted``), a version whose signature no key of the ring made (a retired,
    perhaps leaked, key's; a forged one) is judged again as if unsigned: measured, never
    carried forward."""
    decided = []
    active = key_id(key.public_key())
    ring = {active: key.public_key(), **(trusted or {})}
    champions: dict[str, Champion | None] = {}
    held = Path(tempfile.mkdtemp(prefix="champions-", dir=scratch))
    try:
        for model, version, tags in _to_judge(versions, active, trusted):
            started = time.monotonic()
            folder = Path(tempfile.mkdtemp(prefix=f"{model}-v{version}-", dir=scratch))
            try:
                try:
                    local = versions.download(model, version, folder)
                except Exception as err:  # the registry's errors are untyped; next pass
                    log.warning(
                        "%s v%s: download failed, retried next pass: %s", model, version, err
                    )
                    continue
                if model not in champions:
                    champions[model] = _champion(versions, model, held, ring)
                verdict = decide(
                    local, model, version, tags, snapshot_root, key, policy, champions[model]
                )
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            versions.record(model, version, verdict_tags(verdict))
            log.info(
                "%s v%s: %s (%.1f s)", model, version, verdict.reason, time.monotonic() - started
            )
            decided.append((model, version, verdict))
    finally:
        shutil.rmtree(held, ignore_errors=True)
    return decided


def _to_judge(
    versions: Versions, active: str, trusted: Mapping[str, ec.EllipticCurvePublicKey] | None
) -> list[tuple[str, str, dict[str, str]]]:
    found = versions.waiting()
    if trusted is None:
        return found
    for model, version, tags in versions.signed_by_others(active):
        hint = key_hint(tags[SIGNATURE_TAG])
        if (
            hint not in trusted
            and tags.get(GATE_PASSED_TAG) == "true"
            and SIGNATURE_REFUSED_TAG not in tags
        ):
            found.append((model, version, tags))
    return found


def _champion(
    versions: Versions,
    model: str,
    into: Path,
    ring: Mapping[str, ec.EllipticCurvePublicKey],
) -> Champion | None:
    """The model's champion, downloaded into a fresh folder under ``into`` (removed after
    the pass), compared against only when its own signature holds under the ring: a
    registry that swapped in a stronger champion must not get honest versions refused. No
    champion, or one that cannot be fetched or verified: no comparison (logged)."""
    found = versions.champion(model)
    if found is None:
        return None
    version, tags = found
    if SIGNATURE_TAG not in tags:  # the version being judged may be that champion itself
        log.info("%s: champion v%s is not signed: not compared against", model, version)
        return None
    folder = Path(tempfile.mkdtemp(prefix=f"{model}-champion-", dir=into))
    try:
        local = versions.download(model, version, folder)
        verify(
            local, tags.get(SIGNATURE_TAG, ""), ring, model, version, tags.get(MANIFEST_DIGEST_TAG)
        )
    except SignatureError as err:
        log.warning("%s: champion v%s not compared against: %s", model, version, err)
        return None
    except Exception as err:  # the registry's errors are untyped
        log.warning("%s: champion v%s could not be fetched: %s", model, version, err)
        return None
    return Champion(version=version, folder=local, pin=tags.get(MANIFEST_DIGEST_TAG))


class Resigner:
    """Re-signs with the active key what another key of the ring signed (a routine rotation).
    The ring is read again on every pass: a key the operator retired is carried forward no
    more. A signature by a key outside the ring is not this class's (the signer judges that
    version again, sign_waiting); one that fails to verify is left as it is."""

    def __init__(self, ring_file: Path) -> None:
        self.ring_file = ring_file
        self.skipped: set[tuple[str, str, str]] = set()

    def trusted(self) -> dict[str, ec.EllipticCurvePublicKey]:
        return KeyRing.read(self.ring_file).public_keys()

    def run(
        self,
        versions: Versions,
        key: ec.EllipticCurvePrivateKey,
        scratch: Path,
        trusted: Mapping[str, ec.EllipticCurvePublicKey] | None = None,
    ) -> list[tuple[str, str]]:
        """One pass; the (model, version) pairs re-signed."""
        ring = dict(trusted) if trusted is not None else self.trusted()
        active = key_id(key.public_key())
        done = []
        for model, version, tags in versions.signed_by_others(active):
            old = tags[SIGNATURE_TAG]
            marker = (model, version, hashlib.sha256(old.encode()).hexdigest())
            if marker in self.skipped or key_hint(old) not in ring:
                continue  # no download: nothing of the ring's to carry forward
            renewed = self._resigned(versions, key, scratch, ring, model, version, tags)
            if renewed is None:
                self.skipped.add(marker)
                continue
            if renewed:
                versions.record(model, version, renewed)
                log.info(
                    "%s v%s: re-signed with key %s (was %s)",
                    model,
                    version,
                    active[:12],
                    str(key_hint(old))[:12],
                )
                done.append((model, version))
        return done

    @staticmethod
    def _resigned(
        versions: Versions,
        key: ec.EllipticCurvePrivateKey,
        scratch: Path,
        ring: Mapping[str, ec.EllipticCurvePublicKey],
        model: str,
        version: str,
        tags: dict[str, str],
    ) -> dict[str, str] | None:
        """The renewed tags; None when the old signature does not hold (never retried);
        {} when the download failed (retried next pass)."""
        folder = Path(tempfile.mkdtemp(prefix=f"{model}-v{version}-", dir=scratch))
        try:
            local = versions.download(model, version, folder)
            old = tags[SIGNATURE_TAG]
            verified = verify(local, old, ring, model, version, tags.get(MANIFEST_DIGEST_TAG))
            renewed = {SIGNATURE_TAG: sign(local, verified.binding, key)}
        except SignatureError as err:
            log.warning("%s v%s: not re-signed: %s", model, version, err)
            return None
        except Exception as err:  # download errors: tried again next pass
            log.warning("%s v%s: re-signing failed, retried next pass: %s", model, version, err)
            return {}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if PROVENANCE_TAG in tags:
            try:
                _, made = provenance.verify(
                    tags[PROVENANCE_TAG], ring, model, version, verified.root_digest
                )
            except SignatureError as err:  # the signature is carried forward alone
                log.warning("%s v%s: provenance not carried forward: %s", model, version, err)
            else:
                renewed = {PROVENANCE_TAG: provenance.sign(made, key), **renewed}
        return renewed


def run(
    versions: Versions,
    snapshot_root: Path,
    key: ec.EllipticCurvePrivateKey,
    policy: SignerPolicy,
    scratch: Path,
    interval_s: float,
    stop: Callable[[], bool],
    resigner: Resigner | None = None,
) -> None:
    while not stop():
        try:
            trusted = resigner.trusted() if resigner is not None else None
            sign_waiting(versions, snapshot_root, key, policy, scratch, trusted)
            if resigner is not None:
                resigner.run(versions, key, scratch, trusted)
        except Exception as err:  # an unreachable registry: the next pass tries again
            log.warning("pass failed, next in %.0f s: %s", interval_s, err)
        deadline = time.monotonic() + interval_s
        while time.monotonic() < deadline and not stop():
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True, help="The PEM signing key.")
    parser.add_argument(
        "--trusted",
        type=Path,
        help="Key ring, read every pass: what its keys signed is re-signed with --key; what "
        "no key of it signed is judged again.",
    )
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
    resigner = Resigner(args.trusted) if args.trusted else None
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    scratch = Path(tempfile.mkdtemp(prefix="signer-"))
    log.info("signing gate-passed versions; snapshots in %s; %s", args.snapshots, policy)
    try:
        versions = MlflowVersions()
        if args.once:
            trusted = resigner.trusted() if resigner is not None else None
            sign_waiting(versions, args.snapshots, key, policy, scratch, trusted)
            if resigner is not None:
                resigner.run(versions, key, scratch, trusted)
        else:
            run(
                versions,
                args.snapshots,
                key,
                policy,
                scratch,
                args.interval,
                lambda: bool(stopping),
                resigner,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
