"""The fault-injection load generator's bookkeeping, and the hostile corpus's shape."""

from __future__ import annotations

from pathlib import Path

from loadtests.closed_loop import ClosedLoopLoad, Outcome
from loadtests.hostile import corpus
from serving.client import ServeEndpoint


def test_counts_split_errors_and_measure_the_longest_gap() -> None:
    load = ClosedLoopLoad(ServeEndpoint(url="http://x"), texts=["a"])
    load.outcomes = [
        Outcome(0.0, 200, 5, "1", False),
        Outcome(0.5, 200, 6, "1", False),
        Outcome(1.0, 0, 1, "", False, "ReadTimeout: timed out"),
        Outcome(2.0, 503, 1, "", True, '{"detail": "overloaded"}'),
        Outcome(3.5, 200, 7, "2", False),
    ]
    counts = load.counts()
    assert (counts.requests, counts.ok, counts.http_errors, counts.connection_errors) == (
        5,
        3,
        1,
        1,
    )
    assert counts.failed == 2
    assert counts.longest_gap_s == 3.0
    assert counts.versions == {"1": 2, "2": 1}
    assert counts.rejected_with_retry_after == 1
    assert load.first_ok_after(1.0) == 3.5
    # What a failing chaos test prints: when each failure came and what it was.
    assert counts.first_failures == [
        "t=1.0s no answer: ReadTimeout: timed out",
        't=2.0s 503: {"detail": "overloaded"}',
    ]


def test_corpus_cases_are_distinct_and_cover_the_issue_list() -> None:
    cases = corpus()
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    for needed in (
        "invalid UTF-8",
        "huge body (1 MiB)",
        "deep nesting",
        "very long text",
        "thousands of texts",
        "null text",
        "numbers as texts",
        "wrong content type",
    ):
        assert needed in names


def test_the_cli_side_of_loadtests_imports_without_texts_or_keys(tmp_path: Path) -> None:
    """The CLI runs anywhere; only the Locust process needs texts and a key."""
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import bulkhead.harness.loadtest, bulkhead.harness.bench, bulkhead.harness.chaos",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
