"""`bulkhead ingest` as a real Ray Data job on the ingest cluster, good input and bad."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from ingestion.snapshot import verify
from tests.utils.platform import TestPlatform

pytestmark = pytest.mark.integration


def _snapshot_folders(platform: TestPlatform) -> set[str]:
    root = platform.paths.snapshots
    return {p.name for p in root.iterdir()} if root.exists() else set()


@pytest.mark.slow
def test_bundled_set_gives_a_stable_snapshot_logged_to_mlflow(
    platform: TestPlatform, snapshot: Path
) -> None:
    """Run twice on the same data (the session's snapshot was the first run): the same
    digest and folder, not written again; this run logged to the registry."""
    first = platform.cli_json("ingest")
    assert first["digest"] == verify(snapshot).digest
    assert first["snapshot"] == str(snapshot)
    assert first["created"] is False
    total = sum(first["rows"].values())
    assert 12_600 <= total <= 12_800
    assert set(first["labels"]) == {"fresh", "rotten"}
    assert first["cleaning"]["other_label"] > 1000  # the `plot` rows
    assert first["cleaning"]["rows_read"] == (
        first["cleaning"]["rows_kept"]
        + first["cleaning"]["empty"]
        + first["cleaning"]["too_long"]
        + first["cleaning"]["other_label"]
        + first["cleaning"]["duplicates"]
        + first["cleaning"]["conflicting"]
    )
    # Stratified: each split keeps the overall label balance within a point.
    share = first["labels"]["fresh"] / total
    manifest = verify(Path(first["snapshot"]))
    for split, stats in manifest.splits.items():
        assert abs(stats.labels["fresh"] / stats.rows - share) < 0.01, split
    assert manifest.digest == first["digest"]

    status = platform.cli_json("status")
    assert status["latest_snapshots"][status["model_name"]] == first["snapshot"]

    admin = ("admin", platform.password("admin"))
    base = f"http://127.0.0.1:{platform.registry_port}/api/2.0/mlflow"
    run = httpx.get(f"{base}/runs/get", params={"run_id": first["mlflow_run_id"]}, auth=admin)
    assert run.status_code == 200
    inputs = run.json()["run"]["inputs"]["dataset_inputs"]
    contexts = {
        tag["value"]
        for item in inputs
        for tag in item["tags"]
        if tag["key"] == "mlflow.data.context"
    }
    assert contexts == {"train", "validation", "test"}
    tags = {t["key"]: t["value"] for t in run.json()["run"]["data"]["tags"]}
    assert tags["bulkhead.dataset_digest"] == first["digest"]
    _no_ray_data_actors_left(platform)


def _no_ray_data_actors_left(platform: TestPlatform) -> None:
    """Ray Data's detached stats actor and autoscaling coordinator (~240 MB idle) end with
    the job that made them."""
    import time

    from bulkhead.harness.chaos.base import process_title
    from bulkhead.platform.procs import session_members
    from bulkhead.platform.settings import Zone
    from bulkhead.platform.state import PlatformState

    state = PlatformState.load(platform.paths.state_file)
    leader = state.zones[Zone.INGEST].process.pid
    left: list[str] = []
    for _ in range(20):
        titles = [process_title(p) for p in session_members(leader)]
        left = [t for t in titles if "_StatsActor" in t or "AutoscalingCoordinator" in t]
        if not left:
            return
        time.sleep(0.5)
    raise AssertionError(f"Ray Data actors still running after the ingest job: {left}")


def test_user_csv_with_own_columns_duplicates_and_conflicts(
    platform: TestPlatform, tmp_path: Path
) -> None:
    rows = [(f"review number {i} is here", "pos" if i % 2 else "neg") for i in range(60)]
    rows += [("Review NUMBER 1   is here", "pos")]  # duplicate of #1 after normalisation
    rows += [("contested text", "pos"), ("Contested text", "neg")]  # conflicting labels
    rows += [("", "pos"), ("   ", "neg")]  # empty
    frame = pd.DataFrame(rows, columns=["body", "stars"])
    file = tmp_path / "reviews.csv"
    frame.to_csv(file, index=False)
    result = platform.cli_json(
        "ingest",
        str(file),
        "--text-column",
        "body",
        "--label-column",
        "stars",
        "--no-log-to-registry",
    )
    assert result["cleaning"] == {
        "rows_read": 65,
        "empty": 2,
        "too_long": 0,
        "other_label": 0,
        "duplicates": 1,
        "conflicting": 2,
        "rows_kept": 60,
    }
    assert result["labels"] == {"neg": 30, "pos": 30}
    assert result["rows"] == {"train": 48, "validation": 6, "test": 6}
    assert result["mlflow_run_id"] is None


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_parquet_and_jsonl_inputs(platform: TestPlatform, tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(
        {"text": [f"sample text {i}" for i in range(40)], "label": ["a", "b"] * 20}
    )
    file = tmp_path / f"data.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(file)
    else:
        file.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")) + "\n")
    result = platform.cli_json("ingest", str(file), "--no-log-to-registry")
    assert sum(result["rows"].values()) == 40
    assert result["labels"] == {"a": 20, "b": 20}


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    good_columns = tmp_path / "cols.csv"
    pd.DataFrame({"review": ["x"] * 20, "label": ["a", "b"] * 10}).to_csv(good_columns, index=False)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet at all" * 10)
    one_class = tmp_path / "one.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(30)], "label": "pos"}).to_csv(
        one_class, index=False
    )
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"text": ["  ", "", "\t"] * 5, "label": ["a", "b", "c"] * 5}).to_csv(
        empty, index=False
    )
    return {
        "missing column": ([str(good_columns)], r"column\(s\) 'text' not found"),
        "unreadable file": ([str(garbage)], "could not read"),
        "one class only": ([str(one_class)], "only one class"),
        "empty after cleaning": ([str(empty)], "no usable rows after cleaning"),
        "missing file": ([str(tmp_path / "absent.csv")], "does not exist"),
        "unknown format": ([str(good_columns.with_suffix(".xlsx"))], "does not exist"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing column",
        "unreadable file",
        "one class only",
        "empty after cleaning",
        "missing file",
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(
    platform: TestPlatform, tmp_path: Path, case: str
) -> None:
    import re

    args, message = _bad_inputs(tmp_path)[case]
    before = _snapshot_folders(platform)
    done = platform.cli("ingest", *args, "--no-log-to-registry")
    assert done.returncode == 2, done.stderr[-2000:]
    assert re.search(message, " ".join(done.stderr.split())), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert _snapshot_folders(platform) == before  # no snapshot, no staging left behind
