"""Covers: loadtests/bench/inprocess.py (batches of texts of similar token length).

A batch pads to its longest text, so random batches lost to batch 1 on every core; batches
grouped by length are what the bench measures next to them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from loadtests.bench.inprocess import _batch, measure_all_cores, sorted_by_tokens
from tests.utils.bundles import make_bundle

TEXTS = [
    "fine",
    "a long and winding review that goes on and on about the film's many flaws and merits",
    "good",
    "a film about a film, made by people who love films, for people who love them too",
    "dull",
    "not bad",
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(Path(tmp_path_factory.mktemp("bundle")) / "b")


def test_texts_sort_by_their_token_count_and_batches_are_neighbours(bundle: Path) -> None:
    ordered = sorted_by_tokens(bundle, TEXTS)
    assert sorted(ordered) == sorted(TEXTS)
    assert set(ordered[-2:]) == {TEXTS[1], TEXTS[3]}  # the two long reviews last
    rng = random.Random(0)
    for _ in range(20):
        batch = _batch(TEXTS, 2, rng, ordered)
        start = ordered.index(batch[0])
        assert batch == ordered[start : start + 2]
    assert len(_batch(TEXTS, 3, rng, None)) == 3  # random draws when not grouped


def test_every_core_runs_grouped_batches(bundle: Path) -> None:
    figures = measure_all_cores(
        bundle, TEXTS * 10, batch_size=2, processes=1, seconds=0.5, grouped=True
    )
    assert figures.grouped and figures.batch_size == 2 and figures.calls > 0
