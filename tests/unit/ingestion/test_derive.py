"""The derived bundled tasks: subjectivity from plot sentences and review snippets, party from
convention speeches; both balanced and the same every time."""

from __future__ import annotations

import pandas as pd

from ingestion.derive import OBJECTIVE, SUBJECTIVE, party, plot_sentences, subjectivity
from ingestion.sources import BUNDLED, bundled_path


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


def test_speeches_become_sentences_of_their_party_balanced_without_shared_sentences() -> None:
    shared = "We are grateful to every volunteer in this hall tonight."
    frame = pd.DataFrame(
        {
            "party": ["democrat", "democrat", "republican", "republican"],
            "speaker": ["A", "B", "C", "D"],
            "text": [
                f"Thank you. {shared} Our plan puts teachers back in every classroom.",
                "The middle class built this country and it will rebuild it again.",
                f"{shared} Small businesses need a government that gets out of the way.",
                None,
            ],
        }
    )
    rows = party(frame)
    assert list(rows.columns) == ["text", "label"]
    assert rows["label"].value_counts().to_dict() == {"democrat": 1, "republican": 1}
    assert shared not in set(rows["text"]), "a sentence both parties said has no label"
    assert "Thank you." not in set(rows["text"])
    assert rows.equals(party(frame))


def test_the_bundled_party_file_gives_thousands_of_balanced_sentences() -> None:
    bundled = BUNDLED["party"]
    rows = party(pd.read_csv(bundled_path(bundled.file), compression=bundled.compression))
    counts = rows["label"].value_counts().to_dict()
    assert set(counts) == set(bundled.labels)
    assert counts["democrat"] == counts["republican"] > 1000
