"""The model contract: a self-contained ONNX bundle, verifiable file by file.

Training writes it, serving verifies it before loading: no pickles, no torch, every file's
sha256 in ``manifest.json``, and the manifest's own sha256 pinned on the model version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator

MANIFEST = "manifest.json"
MODEL_FP32 = "model.onnx"
MODEL_INT8 = "model.int8.onnx"
LABELS = "labels.json"
GOLDEN = "golden.jsonl"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1


class BundleError(RuntimeError):
    """A bundle is incomplete or does not match its manifest."""


def safe_relative(path: str) -> str:
    """A manifest path that stays inside the bundle: relative, no ``..``, no backslashes."""
    pure = PurePosixPath(path)
    if not path or "\\" in path or "\x00" in path or pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"manifest path {path[:80]!r} is absolute or leaves the bundle")
    if str(pure) != path:
        raise ValueError(f"manifest path {path[:80]!r} is not in normal form")
    return path


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

    @field_validator("files")
    @classmethod
    def _paths_inside_the_bundle(cls, files: dict[str, str]) -> dict[str, str]:
        for relative in files:
            safe_relative(relative)
        return files


class GoldenExample(BaseModel):
    """An input with the output the fp32 model gave at export, for a post-load self-check."""

    model_config = ConfigDict(extra="forbid")

    text: str
    label: str
    logits: list[float]
