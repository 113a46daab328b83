"""A registry reader that serves copies of real bundle folders: serving's unit tests use it
in place of MLflow (the unit under test is the replica, not the registry).

Every version it holds is signed, as the model signer signs one, with ``SIGNING_KEY``
(``trust_ring`` writes the serve zone's key ring holding its public half), unless a test says
otherwise in ``signatures`` (``None``: unsigned; any string: that signature)."""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from contracts import signatures
from contracts.rollout import RolloutState
from registry import bundle
from registry.reader import RegistryReadError, ResolvedVersion

SNAPSHOT = "snapshot-digest-of-the-fake-registry"


@functools.cache
def signing_key() -> ec.EllipticCurvePrivateKey:
    """The fake signer's key (one per test session)."""
    return signatures.new_private_key()


def trust_ring(path: Path, *keys: ec.EllipticCurvePublicKey) -> Path:
    """A key ring file trusting ``keys`` (default: the fake signer's)."""
    chosen = keys or (signing_key().public_key(),)
    ring = signatures.KeyRing(
        keys={signatures.key_id(k): signatures.public_pem(k).decode() for k in chosen}
    )
    path.write_text(ring.model_dump_json())
    return path


def sign_folder(
    folder: Path,
    model: str,
    version: str,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> str:
    """A signature of ``folder``'s files for ``model`` ``version``, as the signer makes one."""
    binding = signatures.Binding(
        model=model,
        version=version,
        manifest_sha256=bundle.manifest_digest(folder),
        snapshot_digest=SNAPSHOT,
        training_run_id="run",
    )
    return signatures.sign(folder, binding, key or signing_key())


@dataclass
class FakeRegistry:
    """Versions by number: (folder, approved). ``down`` makes every call fail."""

    versions: dict[str, tuple[Path, bool]] = field(default_factory=dict)
    alias: str | None = None
    down: bool = False
    failing_downloads: int = 0
    downloads: list[str] = field(default_factory=list)
    rollout: RolloutState | None = None
    # What a call raises while ``down`` (default: no answer at all).
    down_error: Exception | None = None
    # Signatures by version (absent: signed by the fake signer over the version's folder).
    signatures: dict[str, str | None] = field(default_factory=dict)

    def _fail_if_down(self) -> None:
        if self.down:
            raise self.down_error or ConnectionError("registry unreachable")

    def resolve(self, name: str, alias: str) -> ResolvedVersion:
        self._fail_if_down()
        if self.alias is None:  # the registry answers: no such alias (yet)
            raise RegistryReadError(f"alias {name}@{alias}: registry answered 404")
        return self.pinned(name, self.alias).model_copy(update={"rollout": self.rollout})

    def pinned(self, name: str, version: str) -> ResolvedVersion:
        self._fail_if_down()
        folder, approved = self.versions[version]
        if version not in self.signatures:
            self.signatures[version] = sign_folder(folder, name, version)
        return ResolvedVersion(
            name=name,
            version=version,
            run_id="run",
            approved=approved,
            reason="passed the gate" if approved else "not approved: gate failed",
            manifest_digest=bundle.manifest_digest(folder),
            signature=self.signatures[version],
        )

    def download(
        self, resolved: ResolvedVersion, destination: Path, max_bytes: int | None = None
    ) -> Path:
        self.downloads.append(resolved.version)
        if self.failing_downloads:
            self.failing_downloads -= 1
            raise ConnectionError("connection reset during download")
        target = destination / "bundle"
        shutil.copytree(self.versions[resolved.version][0], target)
        return target
