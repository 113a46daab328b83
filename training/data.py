"""Read a verified dataset snapshot into plain Python lists for the training loop."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from contracts.snapshot import Manifest, verify


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class SnapshotData:
    manifest: Manifest
    label_names: list[str]
    train: Split
    validation: Split
    test: Split


def _read_split(folder: Path, manifest: Manifest, name: str, index: dict[str, int]) -> Split:
    texts: list[str] = []
    labels: list[int] = []
    for entry in manifest.splits[name].files:
        table = pq.read_table(folder / entry.path, columns=["text", "label"])
        texts.extend(table.column("text").to_pylist())
        labels.extend(index[label] for label in table.column("label").to_pylist())
    # Files come in write order; sort so the same snapshot always yields the same sequence.
    order = sorted(range(len(texts)), key=lambda i: (texts[i], labels[i]))
    return Split([texts[i] for i in order], [labels[i] for i in order])


def load_snapshot(folder: Path, max_train_examples: int | None, seed: int) -> SnapshotData:
    """Verify every file's digest, then load; the train split is subsampled, seeded."""
    manifest = verify(folder)
    label_names = sorted(manifest.labels)
    index = {name: i for i, name in enumerate(label_names)}
    train = _read_split(folder, manifest, "train", index)
    if max_train_examples is not None and len(train) > max_train_examples:
        chosen = sorted(random.Random(seed).sample(range(len(train)), max_train_examples))
        train = Split([train.texts[i] for i in chosen], [train.labels[i] for i in chosen])
    return SnapshotData(
        manifest=manifest,
        label_names=label_names,
        train=train,
        validation=_read_split(folder, manifest, "validation", index),
        test=_read_split(folder, manifest, "test", index),
    )
