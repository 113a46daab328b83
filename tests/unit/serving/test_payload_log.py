"""Payload logging from a replica's side, against a real keeper on a real socket: records
arrive; a slow, full or absent drop loses records (counted), never a request."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.drop import FeedbackRecord
from serving.config import PayloadLogConfig
from serving.payload_log import (
    BUFFER_FULL,
    DROP_BUSY,
    DROP_UNREACHABLE,
    SENT,
    DropSender,
    DropUnavailable,
    PayloadLog,
)
from serving.predictor import Prediction
from tests.utils.drop import drain, minted_id, running_keeper, written

RID = minted_id(10)
PRED = Prediction(label="fresh", score=0.75, scores={"fresh": 0.75, "rotten": 0.25})


@pytest.fixture
def keeper(tmp_path: Path):
    with running_keeper(tmp_path) as running:
        yield running


def test_sampled_records_reach_the_drop_with_text_only_when_allowed(keeper) -> None:
    keeper_, sock = keeper
    log = PayloadLog(DropSender(str(keeper_.settings.socket)))
    log.configure(PayloadLogConfig(inputs="hash"))
    log.predictions("sentiment", "3", RID, ["a fine film", "dull"], [PRED, PRED], 4.0)
    log.configure(PayloadLogConfig(inputs="text"))
    log.predictions("sentiment", "3", RID, ["kept"], [PRED], 4.0)
    assert log.flush() == 3
    drain(keeper_, sock)
    rows = written(keeper_)
    assert [r["text"] for r in rows] == [None, None, "kept"]
    assert [r["index"] for r in rows] == [0, 1, 0] and rows[0]["chars"] == len("a fine film")
    assert log.counts.by_outcome == {SENT: 3}


def test_the_sample_rate_is_applied_per_request() -> None:
    draws = iter([0.05, 0.5, 0.09, 0.95])
    log = PayloadLog(DropSender(None), rng=lambda: next(draws))
    log.configure(PayloadLogConfig(sample_rate=0.1))
    for _ in range(4):
        log.predictions("sentiment", "3", RID, ["a", "b"], [PRED, PRED], 1.0)
    assert log.pending == 4  # two requests of two texts


def test_a_full_buffer_drops_and_counts_and_holds_no_more_memory() -> None:
    log = PayloadLog(DropSender(None))
    log.configure(PayloadLogConfig(buffer_records=5))
    for _ in range(4):
        log.predictions("sentiment", "3", RID, ["a", "b"], [PRED, PRED], 1.0)
    assert log.pending == 5
    assert log.counts.by_outcome[BUFFER_FULL] == 3


def test_no_keeper_loses_records_counted(tmp_path: Path) -> None:
    log = PayloadLog(DropSender(str(tmp_path / "nobody.sock")))
    log.predictions("sentiment", "3", RID, ["a"], [PRED], 1.0)
    assert log.flush() == 0
    assert log.counts.by_outcome == {DROP_UNREACHABLE: 1}
    with pytest.raises(DropUnavailable):
        log.feedback(FeedbackRecord(request_id=RID, time=1.0, model="sentiment", label="fresh"))


def test_a_keeper_that_does_not_keep_up_costs_records_not_time(keeper) -> None:
    """Nobody reads the socket: its queue fills, sends fail at once with EAGAIN (a blocking
    send would hang this test), and the records are counted as dropped."""
    keeper_, _ = keeper
    log = PayloadLog(DropSender(str(keeper_.settings.socket)))
    log.configure(PayloadLogConfig(inputs="text", buffer_records=1_000_000))
    text = "x" * 1_000
    for _ in range(200):
        log.predictions("sentiment", "3", RID, [text] * 50, [PRED] * 50, 1.0)
        log.flush()
    assert log.counts.by_outcome.get(DROP_BUSY, 0) > 0
    assert log.counts.by_outcome.get(SENT, 0) + log.counts.by_outcome[DROP_BUSY] == 200 * 50
