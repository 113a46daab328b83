"""Load profiles as data, and the figures computed from raw request samples."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pydantic import ValidationError

from loadtests import recorder
from loadtests.profiles import MAX_PROFILE_SECONDS, PROFILES, LoadProfile, Stage, get_profile
from loadtests.summary import ReplicaPoint, Sample, figures, read_samples, summarize


def test_every_profile_ends_by_itself_within_the_limit() -> None:
    for profile in PROFILES.values():
        assert 0 < profile.total_s <= MAX_PROFILE_SECONDS
        assert profile.stage_at(profile.total_s + 0.1) is None
    assert PROFILES["smoke"].total_s <= 30  # the CI test's budget


def test_stage_at_follows_the_stages() -> None:
    step = get_profile("step")
    assert step.stage_at(0).users == 2
    assert step.stage_at(20.5).users == 16
    assert step.stage_at(step.total_s - 0.5).users == 1


def test_unknown_profile_and_unbounded_profiles_are_refused() -> None:
    with pytest.raises(KeyError, match="known: smoke"):
        get_profile("nope")
    with pytest.raises(ValidationError):
        LoadProfile(
            name="long",
            description="",
            stages=(Stage(name="a", duration_s=MAX_PROFILE_SECONDS, users=1, spawn_rate=1),) * 2,
        )
    with pytest.raises(ValidationError):
        Stage(name="a", duration_s=10, users=-1, spawn_rate=1)


def _sample(t: float, ms: float, status: int = 200, version: str = "3") -> Sample:
    ok = 0 < status < 400
    error = "" if ok else ("http" if status else "connection")
    return Sample(
        t=t, name="predict", latency_ms=ms, status=status, ok=ok, error=error, version=version
    )


def test_figures_tell_http_errors_from_connection_errors() -> None:
    samples = [_sample(i * 0.1, 10 + i) for i in range(8)] + [
        _sample(0.9, 5, 503),
        _sample(1.0, 5, 0),
    ]
    f = figures(samples, duration_s=2.0)
    assert (f.requests, f.failures, f.http_errors, f.connection_errors) == (10, 2, 1, 1)
    assert f.rps == 5.0
    assert f.p50_ms == pytest.approx(13.5)  # failures carry no latency figure
    assert f.status_codes == {"0": 1, "200": 8, "503": 1}


def test_summary_excludes_the_warm_up_and_splits_by_stage() -> None:
    profile = LoadProfile(
        name="t",
        description="",
        stages=(
            Stage(name="low", duration_s=10, users=1, spawn_rate=1),
            Stage(name="high", duration_s=10, users=8, spawn_rate=8),
        ),
        warmup_s=2,
    )
    samples = [
        _sample(t / 2, 100 if t < 4 else 10, version="2" if t < 30 else "3") for t in range(40)
    ]
    replicas = [ReplicaPoint(t=t, running=1 if t < 14 else 2, target=None) for t in range(20)]
    summary = summarize(profile, samples, 0.0, "http://x", replicas)
    assert summary.overall.requests == 36  # the first 2 s (4 samples at 100 ms) are left out
    assert summary.overall.max_ms == 10
    assert [s.requests for s in summary.stages] == [16, 20]
    assert summary.versions_seen == {"2": 30, "3": 10}
    assert summary.max_replicas == 2
    assert summary.scale_up_s == 4.0  # the high stage starts at 10 s, replica 2 at 14 s


def test_recorder_writes_one_row_per_request(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    rec = recorder.RequestRecorder(log)

    class Response:
        status_code = 200

        def __init__(self) -> None:
            self.headers = {"x-model-version": "7"}

    rec.on_request("POST", "predict", 12.5, 100, response=Response(), start_time=1000.0)
    rec.on_request(
        "POST", "predict", 3.0, 0, response=None, exception=ConnectionError(), start_time=1001.0
    )
    rec.close()
    with log.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["version"] for r in rows] == ["7", ""]
    assert [r["error"] for r in rows] == ["", "connection"]
    start, samples = read_samples(log)
    assert start == 1000.0 and [s.t for s in samples] == [0.0, 1.0]
