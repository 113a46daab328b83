"""The loop on a small scale, through the real platform: logged traffic of another domain is
flagged by `monitor`, clients send labels back, `ingest --from-feedback` builds a snapshot
that records exactly which requests it took, and the loop's challenger is trained on such a
snapshot. (The figures of the
loop with the real model: `bulkhead chaos --scenario drift`, docs/feedback.md.)"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from drop.reader import read_drop
from loadtests.texts import texts_from_snapshot
from tests.utils.platform import (
    PROMOTABLE_TINY,
    SECOND_MODEL,
    Served,
    TestPlatform,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_TOPICS = ["budget", "harbour", "zoning", "pension", "railway", "library", "water", "school"]


def _shifted(n: int) -> list[tuple[str, str]]:
    """Council-minutes sentences, far longer than a critic's snippet; the label a person
    would give is a rule of the text (so the loop has something to learn)."""
    rng = random.Random(11)
    rows = []
    for i in range(n):
        topic, votes = rng.choice(_TOPICS), rng.randint(3, 9)
        passed = i % 2 == 0
        outcome = "approved the proposal with praise" if passed else "rejected the proposal"
        text = (
            f"after a long debate on the {topic} amendment for district {i}, the council of the "
            f"city {outcome} by {votes} votes, and the minutes record the motion, the "
            f"objections raised by residents of the {topic} ward and the next hearing date"
        )
        rows.append((text, "fresh" if passed else "rotten"))
    return rows


def _send(served: Served, texts: list[str]) -> list[tuple[str, int, str]]:
    """Batches of 8: (request id, index, text) for each text."""
    sent = []
    with httpx.Client(headers=served.headers(), timeout=30) as client:
        for start in range(0, len(texts), 8):
            batch = texts[start : start + 8]
            answer = client.post(f"{served.url}/v1/predict", json={"texts": batch})
            assert answer.status_code == 200, answer.text
            rid = answer.json()["request_id"]
            sent += [(rid, i, text) for i, text in enumerate(batch)]
    return sent


def test_shifted_traffic_is_flagged_and_its_feedback_becomes_a_snapshot_with_lineage(
    platform: TestPlatform, served: Served, snapshot: Path, tmp_path: Path
) -> None:
    _send(served, texts_from_snapshot(snapshot, limit=160))
    # The in-domain records (answered before this moment) stay before the window: they are
    # the confidence reference; `--since` names the moment the shifted stream starts.
    window_start = time.time()
    shifted = _shifted(160)
    sent = _send(served, [text for text, _ in shifted])
    ids = {rid for rid, _, _ in sent}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        logged = read_drop(platform.paths.drop_records, "sentiment").predictions
        if len({p.request_id for p in logged} & ids) == len(ids):
            break
        time.sleep(0.5)

    since = datetime.fromtimestamp(window_start, UTC).isoformat()
    report_dir = tmp_path / "monitor"
    done = platform.cli("monitor", "--since", since, "--report", str(report_dir), "--json")
    report = json.loads(done.stdout)
    print(
        "\n" + "\n".join(f"{s['name']}: {s['value']} {s['verdict']}" for s in report["statistics"])
    )
    assert done.returncode == 6 and report["verdict"] == "drift"  # exit 6: drift found
    length = next(s for s in report["statistics"] if s["name"].startswith("text length"))
    assert length["verdict"] == "drift" and length["current_n"] == 160
    confidence = next(s for s in report["statistics"] if s["name"].startswith("confidence"))
    assert confidence["reference_n"] >= 160 and confidence["current_n"] == 160
    assert {p.name for p in report_dir.iterdir()} == {"report.json", "drift.png", "drift.prom"}

    labels = dict(shifted)
    labelled = sent[:120]  # clients label three quarters of what they sent
    with httpx.Client(headers=served.headers(), timeout=30) as client:
        for rid, index, text in labelled:
            taken = client.post(
                f"{served.url}/v1/feedback",
                json={"request_id": rid, "index": index, "label": labels[text]},
            )
            assert taken.status_code == 202, taken.text

    ingested = platform.cli_json("ingest", "--from-feedback", "--no-log-to-registry", timeout=600)
    lineage = ingested["lineage"]
    assert lineage["base_snapshot"] == snapshot.name
    assert lineage["feedback_rows"] >= 120 and lineage["request_ids"] >= 15
    assert lineage["drop_files"] and all(f["sha256"] for f in lineage["drop_files"])
    new = Path(ingested["snapshot"])
    assert new != snapshot and ingested["digest"] != lineage["base_digest"]
    manifest = json.loads((new / "manifest.json").read_text())
    assert manifest["lineage"] == lineage
    assert sum(ingested["rows"].values()) >= lineage["base_rows"]  # feedback rows added

    # Training on it is the next test's (the loop's challenger carries its digest).


def test_the_loop_retrains_on_labelled_feedback_and_the_controller_promotes_it(
    platform: TestPlatform, second_model: dict[str, Any], tmp_path: Path
) -> None:
    """`make loop` on a small scale: the subjectivity champion answers a shifted stream (news
    headlines and convention speeches, labelled by source), drift is flagged, the labels of
    one part come back, a challenger is trained on the merged snapshot and taken through
    shadow and canary to champion under load, and the held-out part is scored again. The tiny
    model's gain is printed, not asserted (a random 2-layer BERT learns little in seconds; the
    real model's figures are in docs/feedback.md)."""
    champion = second_model["version"]
    config = tmp_path / "tiny.yaml"
    # The champion is a prepared (untrained) bundle: a tiny model may land either side of
    # it, and the loop's mechanics, not the tiny model's gain, are what this test holds.
    config.write_text(PROMOTABLE_TINY + "  max_regression: 1.0\n")
    loop_env = {
        "BULKHEAD_LOOP_PRESET": "tiny",
        "BULKHEAD_LOOP_TRAIN_CONFIG": str(config),
        "BULKHEAD_LOOP_FEEDBACK": "80",
        "BULKHEAD_LOOP_HELD_OUT": "40",
    }
    done = platform.cli(
        "chaos",
        "--scenario",
        "drift",
        "--model",
        SECOND_MODEL,
        "--quick",  # rollout phases of 5 s, each still on 100 samples
        "--json",
        env=loop_env,
        timeout=900,
    )
    try:
        results = json.loads(done.stdout) if done.stdout.strip() else []
        assert results, done.stderr[-3000:]
        result = results[0]
        print(f"\ndrift: {result['verdict']}; {result['detail']}")
        reports = sorted((platform.paths.home / "reports" / "loop").glob(f"{SECOND_MODEL}-*"))
        report = json.loads((reports[-1] / "loop.json").read_text())
        assert {p.name for p in reports[-1].iterdir()} >= {"loop.json", "loop.png", "monitor"}
        assert report["champion_before"] == champion
        assert report["drift_verdict"] == "drift", report["drift"]
        assert report["feedback_sent"] == report["feedback_accepted"] == 160
        assert report["lineage_rows"] is not None and report["lineage_rows"] >= 150
        assert report["gate_passed"] and report["rollout"].startswith("completed"), report
        assert report["champion_after"] == report["candidate"] != champion
        assert report["after"]["versions"] == {report["candidate"]: 80}
        assert report["before"]["versions"] == {champion: 80}
        assert result["failed"] == 0 and result["requests"] > 0, result["counts"]
        # The challenger was trained on the merged snapshot: its evidence names its digest.
        merged = json.loads((Path(report["snapshot"]) / "manifest.json").read_text())
        assert merged["lineage"] is not None
        with httpx.Client(auth=("admin", platform.password("admin")), timeout=30) as registry:
            version = registry.get(
                f"http://127.0.0.1:{platform.registry_port}/api/2.0/mlflow/model-versions/get",
                params={"name": SECOND_MODEL, "version": report["candidate"]},
            ).json()["model_version"]
        tags = {t["key"]: t["value"] for t in version["tags"]}
        assert tags["dataset_digest"] == merged["digest"]
    finally:  # the session's other tests serve the fixture's champion
        platform.cli("promote", champion, "--model", SECOND_MODEL, "--reason", "test: loop done")
