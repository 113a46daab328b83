"""What version a replica serves, and how it changes: poll, approve, download, verify, swap.

Ray-free: the registry reader, the loader and the metrics are passed in, so the whole cycle
runs in unit tests with a fake registry. A failed load never replaces a working model; a
refused version is not retried until the replica restarts (the registry pins its digest, so
the same bytes would fail again); a download that fails is retried, quickly at first, then
with a doubling backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from contracts.rollout import RolloutState
from contracts.signatures import VerifiedSignature
from registry.reader import BundleTooLarge, ResolvedVersion, registry_answered
from serving.config import ServeAppConfig
from serving.loads import Loads
from serving.metrics import ReplicaMetrics
from serving.predictor import ModelInfo, ModelLoadError, Predictor
from serving.trust import NotTrusted, SignatureRefused, TrustRing

log = logging.getLogger("ray.serve")

# Download attempts retried at the poll interval before the backoff starts doubling.
QUICK_RETRIES = 3
# Each poll waits the interval ± this share: replicas started together (a deploy, a scale-up)
# would otherwise ask the registry in lockstep, every interval, forever.
POLL_JITTER = 0.2


def next_poll_delay(interval_s: float, rng: random.Random) -> float:
    return interval_s * rng.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)


class VersionSource(Protocol):
    """The part of ``registry.reader.RegistryReader`` a replica uses."""

    def resolve(self, name: str, alias: str) -> ResolvedVersion: ...

    def pinned(self, name: str, version: str) -> ResolvedVersion: ...

    def download(
        self, resolved: ResolvedVersion, destination: Path, max_bytes: int | None = None
    ) -> Path: ...


# Builds a ready predictor from a folder whose signature verified:
# (folder, resolved, config, signature) -> Predictor.
Loader = Callable[[Path, ResolvedVersion, ServeAppConfig, VerifiedSignature], Predictor]


def load_predictor(
    folder: Path, resolved: ResolvedVersion, config: ServeAppConfig, signed: VerifiedSignature
) -> Predictor:
    """Verify against the digest pinned at registration, self-check through the request
    path, warm up. Anything wrong with the files is a ModelLoadError."""
    predictor = Predictor(
        folder,
        ModelInfo(
            name=resolved.name,
            version=resolved.version,
            run_id=resolved.run_id,
            precision=config.precision,
            snapshot_digest=signed.binding.snapshot_digest,
        ),
        threads=config.ort_threads,
        precision=config.precision,
        manifest_digest=resolved.manifest_digest,
    )
    predictor.self_check(config.self_check_tolerance)
    predictor.warm_up()
    return predictor


def download_and_load(
    source: VersionSource,
    cache: Path,
    resolved: ResolvedVersion,
    config: ServeAppConfig,
    ring: TrustRing,
    loader: Loader = load_predictor,
) -> Predictor:
    """Download into a fresh folder of its own under ``cache``, verify the signature over
    every file, then load; the folder goes on failure. Anything wrong with the files is a
    ModelLoadError (``SignatureRefused`` when they are not the signed ones)."""
    cache.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{resolved.name}-v{resolved.version}-", dir=cache))
    try:
        local = source.download(resolved, folder, max_bytes=config.max_bundle_bytes)
        # Before anything parses them: no parser sees bytes no trusted key signed.
        signed = ring.verify(local, resolved, config.trust)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        predictor = loader(local, resolved, config, signed)
        predictor.provenance = signed
        return predictor
    except ModelLoadError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except Exception as err:  # a malformed file can fail anywhere in parsing or running
        shutil.rmtree(folder, ignore_errors=True)
        raise ModelLoadError(f"bundle unusable: {short(err)}") from err


def short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200] if text else ''}"


class ModelLifecycle:
    def __init__(
        self,
        source_factory: Callable[[], VersionSource],
        cache: Path,
        metrics: ReplicaMetrics,
        loader: Loader = load_predictor,
        clock: Callable[[], float] = time.monotonic,
        ring: TrustRing | None = None,
    ) -> None:
        self._source_factory = source_factory
        # The serve zone's public keys (serving/trust.py): nothing unsigned is ever loaded.
        self.ring = ring or TrustRing()
        self._source: VersionSource | None = None
        self.cache = cache
        self._metrics = metrics
        self._loader = loader
        self._clock = clock
        self.current: Predictor | None = None
        # A progressive rollout's candidate, held next to the champion while one runs, and the
        # rollout as this replica last read it (ended ones too, for /v1/status).
        self.candidate: Predictor | None = None
        self.rollout: RolloutState | None = None
        self.refused: dict[str, str] = {}
        # Loads on threads of their own, one per version at a time (serving/loads.py).
        self.loads = Loads()
        self.last_error: str | None = None
        # The last refresh failed without an answer from the registry (unreachable, timed out,
        # a download cut short): worth waiting for when a replica starts with no model.
        self.registry_unreachable = False
        self._retry_at: dict[str, tuple[int, float]] = {}
        self._lock = asyncio.Lock()

    def _source_client(self) -> VersionSource:
        if self._source is None:
            self._source = self._source_factory()
        return self._source

    async def refresh(self, config: ServeAppConfig) -> None:
        """One model load at a time per replica: a `user_config` change racing a poll would
        otherwise download into, verify and delete the same files at once."""
        async with self._lock:
            await self._refresh_locked(config)

    async def _refresh_locked(self, config: ServeAppConfig) -> None:
        try:
            resolved = await asyncio.to_thread(
                self._source_client().resolve, config.model_name, config.alias
            )
        except Exception as err:
            self.registry_unreachable = not registry_answered(err)
            self._fail("registry", f"registry unreachable, alias unset or invalid: {short(err)}")
            return
        self.registry_unreachable = False
        await self._follow_champion(resolved, config)
        await self._follow_rollout(resolved.rollout, config)
        state, held = self.rollout, self.candidate
        weight = state.weight if state is not None and state.active and held is not None else 0
        self._metrics.rollout_seen(config.model_name, weight, held.info.version if held else None)

    async def _follow_champion(self, resolved: ResolvedVersion, config: ServeAppConfig) -> None:
        current = self.current
        if current is not None and not await self._still_trusted(current, resolved, config):
            # The operator retired the key it was signed with (and nothing re-signed it):
            # it stops being served; whatever the alias names is loaded if it can be.
            self.current = None
            self._fail("signature", self._distrusted(current))
            current = None
        if current is not None and self._serves(current, resolved, config):
            # What the alias names is served: an earlier poll's complaint (a refused version
            # the alias pointed at a moment ago) no longer describes this replica.
            self.last_error = None
            return
        if not resolved.approved:
            # Not cached: approval is read again on every poll, so a forced promotion's tag
            # that lands after the alias moved is picked up on the next one.
            if resolved.version not in self.refused:
                self._fail("unapproved", f"v{resolved.version} {resolved.reason}")
            return
        if not self._signed(resolved, config):
            return
        candidate = self.candidate
        if (
            candidate is not None
            and self._serves(candidate, resolved, config)
            and await self._still_trusted(candidate, resolved, config)
        ):
            # A rollout completed: the candidate this replica already verified and warmed
            # becomes the champion without a second download.
            self.candidate = None
            self._swap(candidate, resolved)
            return
        predictor = await self._load(resolved, config)
        if predictor is not None:
            self._swap(predictor, resolved)

    async def _follow_rollout(self, state: RolloutState | None, config: ServeAppConfig) -> None:
        """Hold the candidate while a rollout of this model runs; drop it when it ends. Until
        the candidate is loaded every request stays on the champion."""
        if state is not None and state.model != config.model_name:
            state = None
        self.rollout = state
        champion = self.current
        if state is None or not state.active or champion is None:
            self._drop_candidate()
            return
        if state.candidate == champion.info.version:
            self._drop_candidate()
            return
        candidate = self.candidate
        if candidate is not None and candidate.info.version == state.candidate:
            if await self._still_trusted(candidate, None, config):
                return
            self._fail("signature", f"rollout candidate {self._distrusted(candidate)}")
        self._drop_candidate()
        try:
            resolved = await asyncio.to_thread(
                self._source_client().pinned, config.model_name, state.candidate
            )
        except Exception as err:
            self._fail("registry", f"rollout candidate v{state.candidate}: {short(err)}")
            return
        if not resolved.approved:
            if resolved.version not in self.refused:
                self._fail("unapproved", f"rollout candidate v{resolved.version} {resolved.reason}")
            return
        if not self._signed(resolved, config, "rollout candidate "):
            return
        predictor = await self._load(resolved, config)
        if predictor is not None:
            self.candidate = predictor
            self._retry_at.pop(resolved.version, None)
            self._drop_downloads()
            log.info("rollout %s: holding candidate v%s", state.id, resolved.version)

    def _signed(self, resolved: ResolvedVersion, config: ServeAppConfig, what: str = "") -> bool:
        """Whether the version's signed statement holds under the trust policy: checked on
        every poll before any download (cheap, and a signature added later is seen at once);
        a version refused for good stays refused without a word."""
        if resolved.version in self.refused:
            return True  # _load says nothing more about it
        try:
            self.ring.statement(resolved, config.trust)
        except NotTrusted as err:
            self._fail("signature", f"{what}{err}")
            return False
        return True

    async def _still_trusted(
        self, predictor: Predictor, resolved: ResolvedVersion | None, config: ServeAppConfig
    ) -> bool:
        """Whether a held predictor's signing key is still trusted, or, when the registry now
        carries a new signature of the same version (a key rotation re-signed it), that one
        verifies over the files it was loaded from. A ring that cannot be read is no reason
        to stop serving what was verified."""
        signed = predictor.provenance
        try:
            if signed is None or signed.key_id in self.ring.trusted(config.trust):
                return True
        except NotTrusted:
            return True
        if resolved is None or resolved.version != predictor.info.version:
            return False
        try:
            again = await asyncio.to_thread(
                self.ring.verify, predictor.folder, resolved, config.trust
            )
        except (NotTrusted, SignatureRefused):
            return False
        predictor.provenance = again
        log.info("v%s: now verified under key %s", resolved.version, again.key_id[:12])
        return True

    @staticmethod
    def _distrusted(predictor: Predictor) -> str:
        signed = predictor.provenance
        key = signed.key_id[:12] if signed else "?"
        return f"v{predictor.info.version}: its signing key {key} is no longer trusted; not served"

    async def hold_until_loaded(
        self, config: ServeAppConfig, clock: Callable[[], float] = time.monotonic
    ) -> bool:
        """At a replica's start: while it has no model only because the registry cannot be
        reached, keep trying for up to ``config.start_hold_s`` (a replica is not routed to
        until it returns). Returns whether a model is loaded."""
        deadline = clock() + config.start_hold_s
        while self.current is None and self.registry_unreachable and clock() < deadline:
            log.warning(
                "no model yet and the registry cannot be reached: start held (%.0f s left)",
                deadline - clock(),
            )
            await asyncio.sleep(min(1.0, config.poll_interval_s))
            await self.refresh(config)
        return self.current is not None

    def _drop_candidate(self) -> None:
        if self.candidate is not None:
            log.info("dropping rollout candidate v%s", self.candidate.info.version)
            self.candidate = None
            self._drop_downloads()

    async def _load(self, resolved: ResolvedVersion, config: ServeAppConfig) -> Predictor | None:
        """Download, verify, self-check and warm one version; None when refused (remembered,
        reported once) or failed (retried with backoff)."""
        if resolved.version in self.refused:  # reported once, when it was refused
            return None
        waiting = self._retry_at.get(resolved.version)
        if waiting is not None and self._clock() < waiting[1]:
            return None
        try:
            return await self.loads.run(
                f"v{resolved.version}",
                config.load_timeout_s,
                lambda: self._download_and_load(resolved, config),
            )
        except (ModelLoadError, BundleTooLarge) as err:
            self.refused[resolved.version] = f"v{resolved.version}: {err}"
            reason = "signature" if isinstance(err, SignatureRefused) else "load"
            self._fail(reason, self.refused[resolved.version])
            return None
        except NotTrusted as err:  # the key ring changed during the download: next poll
            self._fail("signature", str(err))
            return None
        except Exception as err:  # download errors and deadlines: retry, with backoff
            self.registry_unreachable = not registry_answered(err)
            self._schedule_retry(resolved.version, waiting, config, err)
            return None

    @staticmethod
    def _serves(current: Predictor, resolved: ResolvedVersion, config: ServeAppConfig) -> bool:
        """The loaded model is the wanted version at the wanted precision and threads."""
        wanted = "int8" if config.precision == "int8" and current.manifest.has_int8 else "fp32"
        return (
            current.info.version == resolved.version
            and current.info.precision == wanted
            and current.threads == config.ort_threads
        )

    def _schedule_retry(
        self,
        version: str,
        waiting: tuple[int, float] | None,
        config: ServeAppConfig,
        err: BaseException,
    ) -> None:
        attempts = (waiting[0] if waiting else 0) + 1
        # The first retries come at the poll interval (a blip, a registry that just came
        # back); only a failure that persists backs off, doubling up to the cap.
        delay = min(
            config.retry_backoff_max_s,
            config.poll_interval_s * 2 ** max(0, attempts - QUICK_RETRIES),
        )
        self._retry_at[version] = (attempts, self._clock() + delay)
        self._fail(
            "download",
            f"v{version} could not be fetched (attempt {attempts}, next in {delay:.0f} s): "
            f"{short(err)}",
        )

    def _swap(self, predictor: Predictor, resolved: ResolvedVersion) -> None:
        self._retry_at.pop(resolved.version, None)
        previous = self.current.info.version if self.current else None
        self.current = predictor  # one reference swap: in-flight requests keep the old one
        self._drop_downloads()
        self.last_error = None
        self._metrics.swapped(resolved.version)
        log.info("serving %s v%s (was v%s)", resolved.name, resolved.version, previous)

    def _download_and_load(self, resolved: ResolvedVersion, config: ServeAppConfig) -> Predictor:
        return download_and_load(
            self._source_client(), self.cache, resolved, config, self.ring, self._loader
        )

    def _fail(self, reason: str, message: str) -> None:
        if message != self.last_error:
            log.warning("model refresh: %s", message)
        self.last_error = message
        self._metrics.swap_failed(reason)

    def _drop_downloads(self) -> None:
        """Files of versions no longer held (their sessions, if any, live in memory)."""
        if not self.cache.is_dir():
            return
        keep = [p.folder for p in (self.current, self.candidate) if p is not None]
        for folder in self.cache.iterdir():
            if not any(folder == k or k in folder.parents or folder in k.parents for k in keep):
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        self.loads.close()
        shutil.rmtree(self.cache, ignore_errors=True)
