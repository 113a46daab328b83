"""Duplicate resolution and the stratified, seeded split, applied per group."""

from __future__ import annotations

import math

import pandas as pd

from ingestion.transforms import split_hash

SPLITS = ("train", "validation", "test")


def resolve_duplicates(groups: pd.DataFrame) -> pd.DataFrame:
    """Turn per-key aggregates into one row per distinct text.

    ``groups`` has one row per dedupe key with ``count``, ``min_label``, ``max_label`` and
    ``text`` (the smallest spelling, so the choice does not depend on row order). A key seen
    with two labels is a contradiction and is dropped in every spelling.
    """
    conflicting = groups["min_label"] != groups["max_label"]
    kept = groups[~conflicting]
    return pd.DataFrame(
        {
            "text": kept["text"].astype(str),
            "label": kept["min_label"].astype(str),
            "key": kept["key"].astype(str),
            "copies": kept["count"].astype("int64"),
        }
    )


def split_sizes(n: int, validation_fraction: float, test_fraction: float) -> dict[str, int]:
    """Rows per split for one label; every split gets at least one row when n >= 3."""
    n_test = max(1, math.floor(n * test_fraction + 0.5))
    n_val = max(1, math.floor(n * validation_fraction + 0.5))
    return {"test": n_test, "validation": n_val, "train": n - n_test - n_val}


def assign_splits(
    group: pd.DataFrame, seed: int, validation_fraction: float, test_fraction: float
) -> pd.DataFrame:
    """Split one label's rows: rank by seeded hash of the text, cut by the fractions."""
    ranked = group.assign(rank=group["key"].map(lambda k: split_hash(seed, k)))
    ranked = ranked.sort_values(["rank", "key"], kind="mergesort").reset_index(drop=True)
    sizes = split_sizes(len(ranked), validation_fraction, test_fraction)
    split = ["test"] * sizes["test"] + ["validation"] * sizes["validation"]
    split += ["train"] * sizes["train"]
    return ranked.assign(split=split).drop(columns=["rank"])
