import pandas as pd
import pytest

from ingestion import transforms
from ingestion.schema import IngestError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Great   movie \n\t!  ", "Great movie !"),
        ("ﬁne\u200bfilm", "finefilm"),  # NFKC ligature, zero-width space removed
        ("a\u0000b", "ab"),
        ("\ufeffhello", "hello"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert transforms.normalize_text(raw) == expected


def test_dedupe_key_ignores_case() -> None:
    assert transforms.dedupe_key("Great Movie") == transforms.dedupe_key("great movie")


def test_clean_batch_tags_every_row() -> None:
    batch = pd.DataFrame(
        {
            "review": ["Good", "  ", None, "x" * 50, "Fine", "Meh"],
            "sentiment": ["pos", "neg", "pos", "pos", None, "plot"],
        }
    )
    out = transforms.clean_batch(batch, "review", "sentiment", ("pos", "neg"), max_text_chars=20)
    assert list(out.columns) == ["text", "label", "key", "status"]
    assert list(out["status"]) == [
        transforms.OK,
        transforms.EMPTY,
        transforms.EMPTY,
        transforms.TOO_LONG,
        transforms.EMPTY,
        transforms.OTHER_LABEL,
    ]
    assert out.loc[0, "key"] == "good"


def test_clean_batch_keeps_all_labels_when_none_given() -> None:
    batch = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})
    out = transforms.clean_batch(batch, "text", "label", None, max_text_chars=100)
    assert set(out["status"]) == {transforms.OK}


def test_numeric_labels_become_strings() -> None:
    batch = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
    out = transforms.clean_batch(batch, "text", "label", None, max_text_chars=100)
    assert list(out["label"]) == ["0", "1"]


def test_missing_column_names_it_and_lists_the_real_ones() -> None:
    with pytest.raises(IngestError, match=r"'label'.*columns are \['text', 'stars'\]"):
        transforms.check_columns(["text", "stars"], "text", "label")


def test_split_hash_is_stable_and_seeded() -> None:
    assert transforms.split_hash(1, "k") == transforms.split_hash(1, "k")
    assert transforms.split_hash(1, "k") != transforms.split_hash(2, "k")
    assert 0 <= transforms.split_hash(7, "x") < 2**63
