"""The train zone's only way into the registry: register bundles, tag evidence, move aliases.

Runs as the ``trainer`` user (EDIT on the model). Aliases, not stages: ``challenger`` is the
newest version that passed the gate, ``champion`` is what serving serves. Every champion move
is recorded in the model's ``bulkhead.champion_history`` tag so ``rollback`` can undo it.
"""

from __future__ import annotations

import getpass
import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.signatures import verdict_of
from contracts.tags import (
    ACCURACY_TAG,
    CHALLENGER,
    CHAMPION,
    DATASET_DIGEST_TAG,
    EVIDENCE_TAGS,
    FORCED_TAG,
    GATE_FAILED_TAG,
    GATE_PASSED_TAG,
    HISTORY_EVENT_PREFIX,
    HISTORY_TAG,
    LATENCY_P50_TAG,
    MACRO_F1_TAG,
    MANIFEST_DIGEST_TAG,
    PARITY_TAG,
    PROMOTED_AT_TAG,
    PROMOTED_BY_TAG,
    PROMOTION_REASON_TAG,
    ROLLED_BACK_TAG,
    SIGNATURE_REFUSED_TAG,
    SIGNATURE_TAG,
)
from registry.bundle import manifest_digest
from registry.gate import Evidence, GateResult

__all__ = ["CHALLENGER", "CHAMPION", "LoggedBundle", "PromotionRefused", "RegistryWriter"]


class PromotionRefused(RuntimeError):
    """A promotion or rollback the registry state does not allow; the message says why."""


class LoggedBundle(BaseModel):
    """A bundle uploaded to a run, with the manifest digest its version will be pinned to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    manifest_digest: str


class ChampionMove(BaseModel):
    """One move of ``champion``, stored as its own registered-model tag.

    Each move is a new tag with a unique key, never a rewrite of a shared list, so a promotion
    and a rollback running at the same time cannot overwrite each other's record (MLflow has
    no compare-and-set; an append-only log needs none).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["promote", "rollback"]
    previous: str | None
    target: str
    at_ns: int


def replay_history(legacy: list[str], moves: list[ChampionMove]) -> list[str]:
    """The stack of earlier champions after every recorded move, oldest first."""
    stack = list(legacy)
    for move in sorted(moves, key=lambda m: m.at_ns):
        if move.action == "promote":
            if move.previous is not None and move.previous != move.target:
                stack.append(move.previous)
        else:
            # A rollback to `target` consumed every entry above (and including) it.
            while stack and stack[-1] != move.target:
                stack.pop()
            if stack:
                stack.pop()
    return stack


class VersionRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    aliases: list[str]
    accuracy: float | None
    macro_f1: float | None
    parity: float | None
    latency_p50_ms: float | None
    gate: str
    signature: str = Field(description="The signer's verdict: signed / refused / waiting.")
    run_id: str | None
    created_at: str


def _float(tags: dict[str, str], key: str) -> float | None:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return None


class RegistryWriter:
    def __init__(self, model_name: str, client: Any | None = None) -> None:
        if client is None:
            from mlflow import MlflowClient

            client = MlflowClient()
        self.client = client
        self.model_name = model_name

    # -------------------------------------------------------------- reading

    def alias_version(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            version: str = self.client.get_model_version_by_alias(self.model_name, alias).version
        except MlflowException:
            return None
        return version

    def tags(self, version: str) -> dict[str, str]:
        tags: dict[str, str] = self.client.get_model_version(self.model_name, version).tags
        return tags

    def evidence(self, version: str) -> Evidence | None:
        tags = self.tags(version)
        if not all(key in tags for key in EVIDENCE_TAGS):
            return None
        return Evidence(
            accuracy=float(tags[ACCURACY_TAG]),
            macro_f1=float(tags[MACRO_F1_TAG]),
            parity_max_abs_diff=float(tags[PARITY_TAG]),
            dataset_digest=tags[DATASET_DIGEST_TAG],
        )

    def history(self) -> list[str]:
        """Earlier champions, oldest first, replayed from the append-only move tags."""
        tags: dict[str, str] = self.client.get_registered_model(self.model_name).tags
        legacy: list[str] = json.loads(tags.get(HISTORY_TAG, "[]"))
        moves = [
            ChampionMove.model_validate_json(value)
            for key, value in tags.items()
            if key.startswith(HISTORY_EVENT_PREFIX)
        ]
        return replay_history(legacy, moves)

    def _record_move(self, move: ChampionMove) -> None:
        key = f"{HISTORY_EVENT_PREFIX}{move.at_ns:020d}-{secrets.token_hex(4)}"
        self.client.set_registered_model_tag(self.model_name, key, move.model_dump_json())

    def versions(self) -> list[VersionRow]:
        found = self.client.search_model_versions(f"name='{self.model_name}'")
        # Search results carry no aliases; the registered model maps alias -> version.
        aliases: dict[str, list[str]] = {}
        for alias, version in self.client.get_registered_model(self.model_name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        rows = []
        for mv in sorted(found, key=lambda v: int(v.version)):
            tags = mv.tags
            gate = "passed" if tags.get(GATE_PASSED_TAG) == "true" else "failed"
            if GATE_PASSED_TAG not in tags:
                gate = "unknown"
            rows.append(
                VersionRow(
                    version=str(mv.version),
                    aliases=sorted(aliases.get(str(mv.version), [])),
                    accuracy=_float(tags, ACCURACY_TAG),
                    macro_f1=_float(tags, MACRO_F1_TAG),
                    parity=_float(tags, PARITY_TAG),
                    latency_p50_ms=_float(tags, LATENCY_P50_TAG),
                    gate=gate if gate != "failed" else f"failed: {tags.get(GATE_FAILED_TAG, '')}",
                    signature=verdict_of(tags),
                    run_id=mv.run_id,
                    created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(
                        timespec="seconds"
                    ),
                )
            )
        return rows

    # -------------------------------------------------------------- writing

    def log_bundle(self, run_id: str, folder: Path) -> LoggedBundle:
        digest = manifest_digest(folder)
        self.client.log_artifacts(run_id, str(folder), "bundle")
        artifact_uri: str = self.client.get_run(run_id).info.artifact_uri
        return LoggedBundle(source=f"{artifact_uri}/bundle", manifest_digest=digest)

    def register(self, run_id: str, logged: LoggedBundle, tags: dict[str, str]) -> str:
        """Create the version with its manifest digest among its first tags: from its first
        moment, serving accepts only the files that were uploaded."""
        tags = {**tags, MANIFEST_DIGEST_TAG: logged.manifest_digest}
        mv = self.client.create_model_version(
            self.model_name, logged.source, run_id=run_id, tags=tags
        )
        deadline = time.monotonic() + 60
        while mv.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
            time.sleep(0.5)
            mv = self.client.get_model_version(self.model_name, mv.version)
        if mv.status != "READY":
            raise RuntimeError(f"model version {mv.version} ended {mv.status}")
        version: str = str(mv.version)
        return version

    def record_gate(self, version: str, result: GateResult) -> None:
        """Tags first, aliases after: a crash in between leaves a tagged, unaliased version."""
        self.client.set_model_version_tag(
            self.model_name, version, GATE_PASSED_TAG, str(result.passed).lower()
        )
        if not result.passed:
            self.client.set_model_version_tag(
                self.model_name, version, GATE_FAILED_TAG, "; ".join(result.reasons)
            )
        else:
            self.client.set_registered_model_alias(self.model_name, CHALLENGER, version)

    def promote(self, version: str, reason: str, force: bool = False) -> str | None:
        """Point ``champion`` at ``version``; returns the previous champion."""
        tags = self.tags(version)
        if tags.get(GATE_PASSED_TAG) != "true" and not force:
            why = tags.get(GATE_FAILED_TAG, "it has no gate result")
            raise PromotionRefused(
                f"version {version} did not pass the gate ({why}); pass --force with a --reason "
                "to promote it anyway"
            )
        if force and not reason:
            raise PromotionRefused("a forced promotion needs a --reason, recorded on the version")
        if SIGNATURE_REFUSED_TAG in tags and SIGNATURE_TAG not in tags and not force:
            raise PromotionRefused(
                f"the model signer refused version {version} ({tags[SIGNATURE_REFUSED_TAG]}); "
                "the serve zone loads only signed versions, so it would not be served"
            )
        previous = self.alias_version(CHAMPION)
        if previous == version:
            return previous
        # Tags first, alias last: a replica that sees the alias move must already see the
        # approval (a forced promotion's tag), or it would refuse the version.
        stamp = {
            PROMOTED_BY_TAG: getpass.getuser(),
            PROMOTED_AT_TAG: datetime.now(UTC).isoformat(timespec="seconds"),
            PROMOTION_REASON_TAG: reason or "gate passed",
        }
        if force:
            stamp[FORCED_TAG] = "true"
        for key, value in stamp.items():
            self.client.set_model_version_tag(self.model_name, version, key, value)
        self._record_move(
            ChampionMove(action="promote", previous=previous, target=version, at_ns=time.time_ns())
        )
        self.client.set_registered_model_alias(self.model_name, CHAMPION, version)
        return previous

    def rollback(self, reason: str) -> tuple[str, str]:
        """Move ``champion`` back to the previous champion; returns (from, to)."""
        history = self.history()
        current = self.alias_version(CHAMPION)
        # A promotion that died between recording history and moving the alias leaves the
        # current champion on top of the history: skip it rather than "roll back" onto itself.
        while history and history[-1] == current:
            history.pop()
        if not history or current is None:
            raise PromotionRefused("there is no previous champion to roll back to")
        target = history.pop()
        self._record_move(
            ChampionMove(action="rollback", previous=current, target=target, at_ns=time.time_ns())
        )
        self.client.set_registered_model_alias(self.model_name, CHAMPION, target)
        self.client.set_model_version_tag(
            self.model_name,
            current,
            ROLLED_BACK_TAG,
            f"{datetime.now(UTC).isoformat(timespec='seconds')} by {getpass.getuser()}: {reason}",
        )
        return current, target
