from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.snapshot import (
    CleaningStats,
    SnapshotError,
    SourceInfo,
    describe,
    publish,
    resolve,
    verify,
)

SOURCE = SourceInfo(
    name="t.csv", path="/t.csv", format="csv", sha256="0" * 64, text_column="t", label_column="l"
)
CLEANING = CleaningStats(
    rows_read=6, empty=0, too_long=0, other_label=0, duplicates=0, conflicting=0, rows_kept=6
)
ROWS = {
    "train": [("good film", "pos"), ("bad film", "neg"), ("fine", "pos"), ("dull", "neg")],
    "validation": [("great", "pos")],
    "test": [("awful", "neg")],
}


def _write(folder: Path, rows: dict[str, list[tuple[str, str]]], files_per_split: int = 1) -> None:
    for split, items in rows.items():
        (folder / split).mkdir(parents=True)
        for i in range(files_per_split):
            part = items[i::files_per_split]
            table = pa.table({"text": [t for t, _ in part], "label": [lab for _, lab in part]})
            pq.write_table(table, folder / split / f"part-{i}.parquet")


def _describe(folder: Path):
    return describe(folder, SOURCE, 42, 0.1, 0.1, CLEANING)


def test_digest_ignores_row_order_and_file_layout(tmp_path: Path) -> None:
    _write(tmp_path / "a", ROWS)
    reversed_rows = {k: list(reversed(v)) for k, v in ROWS.items()}
    _write(tmp_path / "b", reversed_rows, files_per_split=2)
    a, b = _describe(tmp_path / "a"), _describe(tmp_path / "b")
    assert a.digest == b.digest
    assert a.splits["train"].labels == {"neg": 2, "pos": 2}
    assert a.total_rows == 6


def test_digest_changes_when_a_row_moves_split(tmp_path: Path) -> None:
    _write(tmp_path / "a", ROWS)
    moved = {**ROWS, "train": ROWS["train"][:-1], "test": [*ROWS["test"], ROWS["train"][-1]]}
    _write(tmp_path / "b", moved)
    assert _describe(tmp_path / "a").digest != _describe(tmp_path / "b").digest


def test_publish_is_idempotent_and_verify_catches_tampering(tmp_path: Path) -> None:
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    _write(tmp_path / "s1", ROWS)
    folder, created = publish(tmp_path / "s1", _describe(tmp_path / "s1"), snapshots)
    assert created and folder.name.startswith("t-")
    _write(tmp_path / "s2", ROWS)
    again, created_again = publish(tmp_path / "s2", _describe(tmp_path / "s2"), snapshots)
    assert (again, created_again) == (folder, False)
    assert not (tmp_path / "s2").exists()
    assert verify(folder).digest == _describe(folder).digest

    victim = next((folder / "train").glob("*.parquet"))
    pq.write_table(pa.table({"text": ["evil"], "label": ["pos"]}), victim)
    with pytest.raises(SnapshotError, match=r"train file .* has sha256"):
        verify(folder)
    victim.unlink()
    with pytest.raises(SnapshotError, match="missing"):
        verify(folder)


def test_the_snapshots_folder_resolves_to_the_newest_snapshot(tmp_path: Path) -> None:
    """A scheduled RayJob names the folder; the job trains on what ingest published last."""
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    _write(tmp_path / "s1", ROWS)
    first, _ = publish(tmp_path / "s1", _describe(tmp_path / "s1"), snapshots)
    assert resolve(snapshots) == first
    changed = {**ROWS, "test": [("awful", "neg"), ("bland", "neg")]}
    _write(tmp_path / "s2", changed)
    second, _ = publish(tmp_path / "s2", _describe(tmp_path / "s2"), snapshots)
    assert second != first
    assert resolve(snapshots) == second
    assert resolve(first) == first
