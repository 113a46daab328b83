"""Writing and verifying model bundles (the format itself is ``contracts.bundle``)."""

from __future__ import annotations

import json
from pathlib import Path

from contracts.bundle import (
    FORMAT_VERSION,
    GOLDEN,
    LABELS,
    MANIFEST,
    MODEL_FP32,
    MODEL_INT8,
    TOKENIZER_DIR,
    BundleError,
    BundleManifest,
    GoldenExample,
    safe_relative,
)
from contracts.digest import sha256_file

__all__ = [
    "FORMAT_VERSION",
    "GOLDEN",
    "LABELS",
    "MANIFEST",
    "MODEL_FP32",
    "MODEL_INT8",
    "TOKENIZER_DIR",
    "BundleError",
    "BundleManifest",
    "GoldenExample",
    "manifest_digest",
    "read_golden",
    "safe_relative",
    "verify",
    "write_manifest",
]


def write_manifest(folder: Path, **fields: object) -> BundleManifest:
    files = {
        str(path.relative_to(folder)): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    manifest = BundleManifest.model_validate({"files": files, **fields})
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return manifest


def manifest_digest(folder: Path) -> str:
    """What the registry records at registration and serving compares on every download."""
    return sha256_file(folder / MANIFEST)


def verify(folder: Path, expected_manifest_digest: str | None = None) -> BundleManifest:
    """Check the bundle is complete, holds nothing else, and every file matches its digest.

    With ``expected_manifest_digest`` (the digest recorded on the model version when it was
    registered), a manifest re-signed after registration is refused too: replacing files and
    rewriting their hashes is exactly what an attacker who can write artefacts would do.
    """
    manifest_file = folder / MANIFEST
    if not manifest_file.is_file():
        raise BundleError(f"{folder} has no {MANIFEST}")
    if expected_manifest_digest is not None:
        actual_digest = sha256_file(manifest_file)
        if actual_digest != expected_manifest_digest:
            raise BundleError(
                f"{MANIFEST} has sha256 {actual_digest[:12]}…, but the registry recorded "
                f"{expected_manifest_digest[:12]}… when this version was registered: the "
                "bundle was changed after registration"
            )
    try:
        manifest = BundleManifest.model_validate_json(manifest_file.read_text())
    except ValueError as err:
        raise BundleError(f"{folder}/{MANIFEST} is not a valid bundle manifest: {err}") from err
    for required in (MODEL_FP32, LABELS, GOLDEN):
        if required not in manifest.files:
            raise BundleError(f"bundle manifest lists no {required}")
    if manifest.has_int8 and MODEL_INT8 not in manifest.files:
        raise BundleError(f"bundle manifest says has_int8 but lists no {MODEL_INT8}")
    present = {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if (path.is_file() or path.is_symlink()) and path != manifest_file
    }
    unlisted = sorted(present - set(manifest.files))
    if unlisted:
        raise BundleError(f"bundle holds files its manifest does not list: {unlisted[:5]}")
    symlinks = [p for p in folder.rglob("*") if p.is_symlink()]
    if symlinks:
        raise BundleError(f"bundle holds symbolic links: {symlinks[0].name}")
    for relative, expected in manifest.files.items():
        path = folder / relative
        if not path.is_file():
            raise BundleError(f"bundle file {relative} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"bundle file {relative} has sha256 {actual[:12]}…, expected {expected[:12]}…"
            )
    return manifest


def read_golden(folder: Path) -> list[GoldenExample]:
    lines = (folder / GOLDEN).read_text().splitlines()
    return [GoldenExample.model_validate(json.loads(line)) for line in lines if line.strip()]
