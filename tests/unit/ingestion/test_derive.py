"""The subjectivity task's rows come from plot sentences and review snippets, balanced."""

from __future__ import annotations

import pandas as pd

from ingestion.derive import OBJECTIVE, SUBJECTIVE, plot_sentences, subjectivity


def test_plots_split_into_sentences_without_fragments() -> None:
    plot = (
        "Vijay is a quirky manager of a bank in a large and busy city. He is strict at work. "
        'A crisis hits the bank when an employee tries to con the customers. "Why?" '
        "What happens next?"
    )
    assert plot_sentences(pd.Series([plot])) == [
        "Vijay is a quirky manager of a bank in a large and busy city.",
        "A crisis hits the bank when an employee tries to con the customers.",
    ]


def test_reviews_are_sampled_to_balance_and_the_same_file_gives_the_same_rows() -> None:
    plot = " ".join(
        f"Sentence number {i} of the plot tells what the hero does next." for i in range(3)
    )
    frame = pd.DataFrame(
        {
            "category": ["plot", "plot", *(["fresh", "rotten"] * 5), "fresh"],
            "text": [plot, None, *(f"review {i}: a triumph, or a bore" for i in range(10)), None],
        }
    )
    rows = subjectivity(frame)
    assert rows["label"].value_counts().to_dict() == {OBJECTIVE: 3, SUBJECTIVE: 3}
    assert list(rows.columns) == ["text", "label"]
    assert rows.equals(subjectivity(frame))
