"""The feedback loop's shifted stream: balanced, disjoint halves, the same on every run."""

from __future__ import annotations

import pytest

from bulkhead.harness.chaos.drift import LoopSettings
from loadtests.shifted import has_shifted_set, shifted_split


def test_the_split_is_balanced_disjoint_and_seeded() -> None:
    split = shifted_split("subjectivity", feedback_per_label=30, held_out_per_label=20)
    labels = [r.label for r in split.feedback]
    assert labels.count("objective") == labels.count("subjective") == 30
    assert len(split.held_out) == 40
    assert not {r.text for r in split.feedback} & {r.text for r in split.held_out}
    again = shifted_split("subjectivity", feedback_per_label=30, held_out_per_label=20)
    assert again == split


def test_the_two_sources_are_what_their_labels_say() -> None:
    split = shifted_split("subjectivity", feedback_per_label=200, held_out_per_label=0)
    objective = [r.text for r in split.feedback if r.label == "objective"]
    subjective = [r.text for r in split.feedback if r.label == "subjective"]
    # Headlines are short and never end a sentence with a full stop; speech sentences do.
    assert max(len(t) for t in objective) <= 160
    assert sum(t.endswith(".") for t in subjective) > 0.5 * len(subjective)
    assert sum(t.endswith(".") for t in objective) < 0.1 * len(objective)


def test_a_data_set_without_a_shifted_stream_is_named() -> None:
    assert not has_shifted_set("rotten_tomatoes")
    with pytest.raises(ValueError, match="no labelled shifted stream"):
        shifted_split("rotten_tomatoes", 10, 10)


def test_loop_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULKHEAD_LOOP_PRESET", "tiny")
    monkeypatch.setenv("BULKHEAD_LOOP_FEEDBACK", "80")
    settings = LoopSettings.from_env()
    assert (settings.preset, settings.feedback_per_label, settings.held_out_per_label) == (
        "tiny",
        80,
        400,
    )
    monkeypatch.setenv("BULKHEAD_LOOP_HELD_OUT", "3")
    with pytest.raises(ValueError):
        LoopSettings.from_env()
