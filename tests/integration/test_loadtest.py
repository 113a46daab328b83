"""Locust against the integration serve zone: a short staged profile, and plain `locust -f`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.utils.platform import Served, TestPlatform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCUST = str(Path(sys.executable).parent / "locust")


def test_smoke_profile_has_no_failure_and_a_well_formed_report(
    platform: TestPlatform, served: Served, snapshot: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    done = platform.cli(
        "loadtest", "--profile", "smoke", "--report", str(report), "--json", timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    overall = summary["overall"]
    print(
        f"smoke: {overall['requests']} requests, {overall['failures']} failed, "
        f"{overall['rps']} req/s, p50 {overall['p50_ms']} ms, p99 {overall['p99_ms']} ms"
    )
    assert overall["requests"] > 50
    assert overall["failures"] == 0 and overall["http_errors"] == 0
    assert overall["connection_errors"] == 0
    assert set(overall["status_codes"]) == {"200"}
    assert 0 < overall["p50_ms"] <= overall["p90_ms"] <= overall["p95_ms"] <= overall["p99_ms"]
    assert [s["stage"] for s in summary["stages"]] == ["2 users", "4 users"]
    assert all(s["requests"] > 0 for s in summary["stages"])
    assert sum(s["requests"] for s in summary["stages"]) == overall["requests"]
    champion = platform.cli_json("status")["champion_version"]
    assert set(summary["versions_seen"]) == {champion}
    assert summary["replicas"] and summary["max_replicas"] >= 1
    # Every user class of the profile was exercised, and the report holds its files.
    with (report / "requests.csv").open() as handle:
        names = {row["name"] for row in csv.DictReader(handle)}
    assert names == {"predict[1]", "predict[2-8]", "v2 infer"}
    for name in ("summary.json", "loadtest.png", "locust_stats.csv", "locust_stats_history.csv"):
        assert (report / name).stat().st_size > 0, name
    assert json.loads((report / "summary.json").read_text()) == summary


def test_plain_locust_runs_the_locustfile_without_a_profile(
    platform: TestPlatform, served: Served, snapshot: Path, tmp_path: Path
) -> None:
    """What a user who prefers Locust's own UI or flags runs (headless here)."""
    texts = tmp_path / "texts.jsonl"
    texts.write_text('"a gripping, beautifully shot thriller"\n"flat and lifeless"\n')
    env = {
        **platform.env(),
        "BULKHEAD_SERVE_API_KEY_FILE": str(platform.paths.serve_api_key),
        "BULKHEAD_LOADTEST_TEXTS": str(texts),
    }
    done = subprocess.run(
        [
            LOCUST,
            "-f",
            "loadtests/locustfile.py",
            "--headless",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "4s",
            "--host",
            served.url,
            "--only-summary",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Aggregated" in done.stderr and "0(0.00%)" in done.stderr, done.stderr[-2000:]


def test_responses_name_the_version_and_where_the_time_went(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/v1/predict",
        json={"texts": ["a fine film"]},
        headers=served.headers(),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["x-model-version"] == response.json()["model"]["version"]
    timing = dict(
        part.strip().split(";dur=") for part in response.headers["server-timing"].split(",")
    )
    assert 0 < float(timing["infer"]) <= float(timing["handler"])
