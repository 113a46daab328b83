"""The model contract: a self-contained ONNX bundle, verifiable file by file.

Training writes it, serving verifies it before loading: no pickles, no torch, every file's
sha256 in ``manifest.json``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from registry.digest import sha256_file

MANIFEST = "manifest.json"
MODEL_FP32 = "model.onnx"
MODEL_INT8 = "model.int8.onnx"
LABELS = "labels.json"
GOLDEN = "golden.jsonl"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1


class BundleError(RuntimeError):
    """A bundle is incomplete or does not match its manifest."""


class BundleManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    files: dict[str, str] = Field(description="Relative path -> sha256 of every other file.")
    labels: list[str] = Field(description="Class names in logit order.")
    max_length: int = Field(description="Tokens per text the model was trained and exported at.")
    input_names: list[str] = Field(description="ONNX graph inputs, in order.")
    output_name: str = "logits"
    opset: int
    has_int8: bool
    dataset_digest: str
    training_run_id: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class GoldenExample(BaseModel):
    """An input with the output the fp32 model gave at export, for a post-load self-check."""

    model_config = ConfigDict(extra="forbid")

    text: str
    label: str
    logits: list[float]


def write_manifest(folder: Path, **fields: object) -> BundleManifest:
    files = {
        str(path.relative_to(folder)): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    manifest = BundleManifest.model_validate({"files": files, **fields})
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return manifest


def verify(folder: Path) -> BundleManifest:
    """Check the bundle is complete and every file matches its digest."""
    try:
        manifest = BundleManifest.model_validate_json((folder / MANIFEST).read_text())
    except FileNotFoundError as err:
        raise BundleError(f"{folder} has no {MANIFEST}") from err
    except ValueError as err:
        raise BundleError(f"{folder}/{MANIFEST} is not a valid bundle manifest: {err}") from err
    for required in (MODEL_FP32, LABELS, GOLDEN):
        if required not in manifest.files:
            raise BundleError(f"bundle manifest lists no {required}")
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
