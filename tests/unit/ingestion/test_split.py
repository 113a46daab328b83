import pandas as pd
import pytest

from ingestion.split import assign_splits, resolve_duplicates, split_sizes


def test_resolve_duplicates_drops_conflicting_texts() -> None:
    groups = pd.DataFrame(
        {
            "key": ["a", "b"],
            "count": [3, 2],
            "min_label": ["pos", "neg"],
            "max_label": ["pos", "pos"],
            "text": ["A", "b"],
        }
    )
    out = resolve_duplicates(groups)
    assert list(out["key"]) == ["a"]
    assert list(out["label"]) == ["pos"]
    assert list(out["copies"]) == [3]


@pytest.mark.parametrize("n", [3, 10, 101, 5000])
def test_split_sizes_cover_every_row_and_every_split(n: int) -> None:
    sizes = split_sizes(n, 0.1, 0.1)
    assert sum(sizes.values()) == n
    assert min(sizes.values()) >= 1


def _label_rows(label: str, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [f"{label} {i}" for i in range(n)],
            "label": label,
            "key": [f"{label} {i}" for i in range(n)],
        }
    )


def test_assign_splits_is_stratified_and_order_independent() -> None:
    rows = _label_rows("pos", 200)
    first = assign_splits(rows, seed=42, validation_fraction=0.1, test_fraction=0.2)
    shuffled = assign_splits(
        rows.sample(frac=1, random_state=3), seed=42, validation_fraction=0.1, test_fraction=0.2
    )
    assert first["split"].value_counts().to_dict() == {"train": 140, "test": 40, "validation": 20}
    by_key = dict(zip(first["key"], first["split"], strict=True))
    assert by_key == dict(zip(shuffled["key"], shuffled["split"], strict=True))


def test_assign_splits_depends_on_seed() -> None:
    rows = _label_rows("neg", 100)
    a = assign_splits(rows, seed=1, validation_fraction=0.1, test_fraction=0.1)
    b = assign_splits(rows, seed=2, validation_fraction=0.1, test_fraction=0.1)
    assert set(a[a.split == "test"].key) != set(b[b.split == "test"].key)
