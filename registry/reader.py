"""The serve zone's only way into the registry: resolve an alias, check approval, download.

Runs as the read-only ``server`` user. Nothing here imports torch or training code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from contracts.registry_api import ALIAS_POLL_ROUTE
from contracts.rollout import RolloutState, effective_rollout, parse_rollout
from contracts.tags import (
    FORCED_TAG,
    GATE_FAILED_TAG,
    GATE_PASSED_TAG,
    MANIFEST_DIGEST_TAG,
    SIGNATURE_REFUSED_TAG,
    SIGNATURE_TAG,
    valid_version,
)


class BundleTooLarge(RuntimeError):
    """A version's files add up to more than the download cap; it is never fetched."""


class RegistryReadError(RuntimeError):
    """The registry refused or failed a read (status and message included)."""


def registry_answered(err: BaseException) -> bool:
    """Whether ``err`` is the registry's own answer (a refusal, an unset alias, a missing
    version), as opposed to no answer at all (refused connection, timeout, a cut download).
    A replica waits for the second kind to pass; the first would not change by waiting.

    A server error (5xx: a registry still starting, its database briefly locked) is no answer
    about the model either: a replica that took one for an answer started empty and served
    503s while the registry came back."""
    from mlflow.exceptions import RestException

    if isinstance(err, RestException):
        return int(err.get_http_status_code()) < 500  # type: ignore[no-untyped-call]
    return isinstance(err, (RegistryReadError, BundleTooLarge))


class ResolvedVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    run_id: str | None
    approved: bool
    reason: str
    source: str | None = None
    manifest_digest: str | None = None
    # The model signer's signature (contracts/signatures.py), or its reason for refusing to
    # sign: what the registry holds, which serving verifies and never trusts as such.
    signature: str | None = None
    signer_refusal: str | None = None
    # The model's progressive rollout as the registry holds it (None: none, or unreadable).
    rollout: RolloutState | None = None

    @field_validator("version")
    @classmethod
    def _a_version_number(cls, version: str) -> str:
        return valid_version(version)


@dataclass(frozen=True)
class _PolledVersion:
    """The fields of a model version ``_resolved`` reads, from the registry's poll route."""

    version: str
    run_id: str | None
    source: str | None
    tags: dict[str, str]


class RegistryReader:
    def __init__(self, client: Any | None = None, *, poll_route: bool = True) -> None:
        """``poll_route``: resolve aliases through the registry's cheap conditional route
        (registry/alias_poll.py) while it exists; MLflow's own call otherwise. A reader
        around a given client (tests' fakes) always uses that client."""
        self.poll_route = poll_route and client is None
        if client is None:
            from mlflow import MlflowClient

            client = MlflowClient()
        self.client = client
        self._last: dict[tuple[str, str], tuple[str, ResolvedVersion]] = {}

    def resolve(self, name: str, alias: str) -> ResolvedVersion:
        """The version an alias points at, and whether serving may load it.

        Approval is read afresh on every call (the registry's answer is at most a second
        old, and a write through the registry refreshes it at once): a version refused as
        unapproved becomes servable the moment the operator approves it.
        """
        if self.poll_route:
            polled = self._poll(name, alias)
            if polled is not None:
                return polled
        resolved = self._resolved(name, self.client.get_model_version_by_alias(name, alias))
        model_tags = self.client.get_registered_model(name).tags or {}
        return resolved.model_copy(update={"rollout": effective_rollout(model_tags)})

    def _poll(self, name: str, alias: str) -> ResolvedVersion | None:
        """One conditional GET; ``None`` when the registry has no poll route (then never
        again: a stock MLflow server answers it 404 with its own page)."""
        from mlflow.tracking import get_tracking_uri
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        last = self._last.get((name, alias))
        headers = {"If-None-Match": last[0]} if last else {}
        response = http_request(  # type: ignore[no-untyped-call]
            get_default_host_creds(get_tracking_uri()),  # type: ignore[no-untyped-call]
            ALIAS_POLL_ROUTE,
            "GET",
            params={"name": name, "alias": alias},
            extra_headers=headers,
            raise_on_status=False,
        )
        status = response.status_code
        if status == 304 and last:
            return last[1]
        if status == 404 and "error_code" not in response.text:
            self.poll_route = False
            return None
        if status in (401, 403, 404):  # what MLflow's own call would refuse too
            raise RegistryReadError(
                f"alias {name}@{alias}: registry answered {status}: {response.text[:300]}"
            )
        if status != 200:  # anything unexpected: this poll takes MLflow's own call
            return None
        body = response.json()
        resolved = self._resolved(
            name,
            _PolledVersion(
                version=str(body["version"]),
                run_id=body.get("run_id"),
                source=body.get("source"),
                tags=dict(body.get("tags") or {}),
            ),
        ).model_copy(update={"rollout": parse_rollout(body.get("rollout"))})
        self._last[(name, alias)] = (response.headers.get("ETag", ""), resolved)
        return resolved

    def pinned(self, name: str, version: str) -> ResolvedVersion:
        """One version by number, with its approval and pinned manifest digest."""
        return self._resolved(name, self.client.get_model_version(name, valid_version(version)))

    def _resolved(self, name: str, mv: Any) -> ResolvedVersion:
        tags = mv.tags or {}
        digest = tags.get(MANIFEST_DIGEST_TAG)
        passed = tags.get(GATE_PASSED_TAG) == "true"
        forced = tags.get(FORCED_TAG) == "true"
        if digest is None:
            approved, reason = False, f"not approved: no {MANIFEST_DIGEST_TAG} recorded"
        elif passed or forced:
            approved, reason = True, "passed the gate" if passed else "forced promotion"
        else:
            approved = False
            reason = f"not approved: {tags.get(GATE_FAILED_TAG, 'no gate result recorded')}"
        return ResolvedVersion(
            name=name,
            version=str(mv.version),
            run_id=mv.run_id,
            approved=approved,
            reason=reason,
            source=getattr(mv, "source", None),
            manifest_digest=digest,
            signature=tags.get(SIGNATURE_TAG),
            signer_refusal=tags.get(SIGNATURE_REFUSED_TAG),
        )

    def bundle_size(self, resolved: ResolvedVersion) -> int:
        """Bytes the version's files add up to, from the artifact listing (nothing fetched)."""
        from mlflow.artifacts import list_artifacts

        uri = resolved.source or f"models:/{resolved.name}/{resolved.version}"
        total = 0
        pending = [""]
        while pending:
            prefix = pending.pop()
            base = f"{uri}/{prefix}" if prefix else uri
            for entry in list_artifacts(artifact_uri=base):
                if entry.is_dir:
                    relative = entry.path.rsplit("/", 1)[-1]
                    pending.append(f"{prefix}/{relative}" if prefix else relative)
                else:
                    total += int(entry.file_size or 0)
        return total

    def download(
        self, resolved: ResolvedVersion, destination: Path, max_bytes: int | None = None
    ) -> Path:
        """Download one pinned version (never the alias: it may move while we download)."""
        import mlflow

        if max_bytes is not None:
            size = self.bundle_size(resolved)
            if size > max_bytes:
                raise BundleTooLarge(
                    f"v{resolved.version} holds {size} bytes, over the {max_bytes}-byte cap"
                )
        destination.mkdir(parents=True, exist_ok=True)
        local: str = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{resolved.name}/{resolved.version}", dst_path=str(destination)
        )
        return Path(local)
