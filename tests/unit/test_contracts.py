"""The contracts every process shares: encodings round-trip, names are unique, rules hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts import env, jobs, serve_api
from contracts.bundle import safe_relative
from contracts.digest import sha256_file
from contracts.snapshot import MANIFEST, SnapshotError, verify
from contracts.tags import valid_version
from ingestion.schema import IngestConfig, IngestJobSpec
from training.schema import TrainJobSpec, load_config


def test_job_specs_round_trip_through_the_command_line_encoding(tmp_path: Path) -> None:
    ingest = IngestJobSpec(
        config=IngestConfig(seed=7), ray_address="127.0.0.1:1", snapshots_dir=tmp_path
    )
    train = TrainJobSpec(
        config=load_config("tiny", None, {}),
        snapshot=tmp_path,
        ray_address="127.0.0.1:2",
        storage_path=tmp_path,
        model_name="sentiment",
        experiment_name="bulkhead",
    )
    for spec in (ingest, train):
        encoded = jobs.encode_spec(spec)
        assert encoded.isascii() and " " not in encoded  # one shell word, no quoting needed
        assert jobs.decode_spec(type(spec), encoded) == spec


def test_the_last_result_and_error_lines_win_and_other_lines_are_ignored() -> None:
    lines = [
        "[train] epoch 1",
        jobs.result_line(IngestConfig(seed=1)),
        "(TrainWorker pid=1) BULKHEAD_RESULT not at the start: ignored",
        jobs.result_line(IngestConfig(seed=2)),
        jobs.error_line("version 3 failed the gate"),
    ]
    result, error = jobs.parse_output(lines)
    assert result is not None and result["seed"] == 2
    assert error == "version 3 failed the gate"
    assert jobs.parse_output(["nothing"]) == (None, None)


def test_job_exit_codes_are_distinct_and_stable() -> None:
    assert [int(code) for code in jobs.JobExit] == [0, 1, 2, 3]


def test_environment_names_are_unique_and_namespaced() -> None:
    names = [value for key, value in vars(env).items() if key.isupper()]
    assert len(names) == len(set(names))
    assert all(name.startswith("BULKHEAD_") for name in names)


@pytest.mark.parametrize(
    ("path", "needs_key"),
    [
        ("/v1/predict", True),
        ("/v1/status", True),
        ("/v1/limits", False),
        ("/v2/models/sentiment/infer", True),
        ("/v2/models", False),  # no such route: 404 before any key check
        ("/v2/health/ready", False),
        ("/healthz", False),
        ("/docs", False),
        ("/v1/models/spam/predict", True),
        ("/v1/models/spam/status", True),
        ("/v1/models/spam/ready", False),
        ("/v1/models/a/b/ready", False),
        ("/v1/models/ready", False),
        ("/predict", True),
        ("/status", True),
        ("/ready", False),
    ],
)
def test_which_routes_need_the_api_key(path: str, needs_key: bool) -> None:
    assert serve_api.needs_api_key(path) is needs_key


OWN = "sentiment"
_A = serve_api.Access


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        # The default model's application (route prefix /).
        ("/v1/predict", "", (_A.ADMITTED, OWN)),
        ("/predict", "", (_A.ADMITTED, OWN)),
        ("/v1/feedback", "", (_A.KEYED, OWN)),
        ("/v1/models/subjectivity/predict", "", (_A.ADMITTED, "subjectivity")),
        ("/v1/models/subjectivity/feedback", "", (_A.KEYED, "subjectivity")),
        ("/v1/models/subjectivity/ready", "", (_A.OPEN, "subjectivity")),
        ("/v2/models/subjectivity/infer", "", (_A.ADMITTED, "subjectivity")),
        ("/v2/models/subjectivity/versions/3/infer", "", (_A.ADMITTED, "subjectivity")),
        ("/v2/models/subjectivity", "", (_A.KEYED, "subjectivity")),
        ("/v2/models/subjectivity/ready", "", (_A.KEYED, "subjectivity")),
        ("/v2/health/ready", "", (_A.OPEN, OWN)),
        ("/docs", "", (_A.OPEN, None)),
        # A model's own application (prefix /v1/models/{name}): only its mounted routes.
        ("/v1/models/subjectivity/predict", "/v1/models/subjectivity", (_A.ADMITTED, OWN)),
        ("/v1/models/subjectivity/ready", "/v1/models/subjectivity", (_A.OPEN, OWN)),
        ("/v1/models/subjectivity/openapi.json", "/v1/models/subjectivity", (_A.OPEN, None)),
        ("/v1/models/subjectivity/v2/models/sentiment/infer", "/v1/models/subjectivity", None),
        ("/v1/models/subjectivity/v1/predict", "/v1/models/subjectivity", None),
        ("/v1/models/subjectivity/v1/models/x/predict", "/v1/models/subjectivity", None),
        ("/v1/models/subjectivity//predict", "/v1/models/subjectivity", None),
        ("/v1/models/subjectivity/predict/", "/v1/models/subjectivity", None),
        ("/v1/models/subjectivityx/predict", "/v1/models/subjectivity", None),
        # A family (prefix /v1/family): /{member}/predict|feedback.
        ("/v1/family/t-1/predict", "/v1/family", (_A.ADMITTED, "t-1")),
        ("/v1/family/t-1/feedback", "/v1/family", (_A.KEYED, "t-1")),
        ("/v1/family/t-1/v2/models/x/infer", "/v1/family", None),
        ("/v1/family/t-1/ready", "/v1/family", None),
        # Unusual forms: double or trailing slashes, dot segments, case, odd names, versions.
        ("//v1/predict", "", None),
        ("/v1/predict/", "", None),
        ("/v1/./predict", "", None),
        ("/v2/models/../v1/predict", "", None),
        ("/V1/predict", "", None),
        ("/v2/models/a b/infer", "", None),
        ("/v2/models/x\n/infer", "", None),
        ("/v2/models/x/versions/01/infer", "", None),
        ("/v2/models/x/versions/\u00b2/infer", "", None),
        ("/v2/models/x/infer/more", "", None),
        ("/v2/models/x/versions/\u0661/infer", "", None),  # an Arabic-Indic digit
        ("/v2/models/sentim\u0435nt/infer", "", None),  # a Cyrillic e
        ("/v1/models/a/b/predict", "", None),
    ],
)
def test_every_request_resolves_once_to_the_model_that_answers_it(
    path: str, root_path: str, expected: tuple[serve_api.Access, str | None] | None
) -> None:
    resolved = serve_api.resolve(path, root_path, OWN)
    assert (None if resolved is None else (resolved.access, resolved.model)) == expected


@pytest.mark.parametrize("version", ["../x", "0", "-1", "1 ", "01", "1/2", "", "12345678901"])
def test_a_registry_version_that_is_not_a_plain_number_is_refused(version: str) -> None:
    with pytest.raises(ValueError):
        valid_version(version)


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../b", "a\\b", "./a", ""])
def test_bundle_paths_must_stay_inside_the_bundle(path: str) -> None:
    with pytest.raises(ValueError):
        safe_relative(path)


def test_a_snapshot_is_verified_without_reading_its_parquet(tmp_path: Path) -> None:
    """The control plane checks snapshots before submitting a job, with no pyarrow."""
    part = tmp_path / "train" / "part-0.parquet"
    part.parent.mkdir()
    part.write_bytes(b"not really parquet: only its digest matters here")
    manifest = {
        "digest": "0" * 64,
        "created_at": "2026-11-29T00:00:00+00:00",
        "source": {
            "name": "x.csv",
            "path": "/x.csv",
            "format": "csv",
            "sha256": "0" * 64,
            "text_column": "text",
            "label_column": "label",
        },
        "seed": 42,
        "validation_fraction": 0.1,
        "test_fraction": 0.1,
        "labels": ["a", "b"],
        "splits": {
            "train": {
                "rows": 3,
                "labels": {"a": 2, "b": 1},
                "files": [
                    {
                        "path": "train/part-0.parquet",
                        "sha256": sha256_file(part),
                        "rows": 3,
                        "bytes": part.stat().st_size,
                    }
                ],
            }
        },
        "cleaning": {
            "rows_read": 3,
            "empty": 0,
            "too_long": 0,
            "other_label": 0,
            "duplicates": 0,
            "conflicting": 0,
            "rows_kept": 3,
        },
    }
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert verify(tmp_path).total_rows == 3
    part.write_bytes(b"changed")
    with pytest.raises(SnapshotError, match="sha256"):
        verify(tmp_path)


def test_registry_tag_names_come_from_contracts_tags() -> None:
    """A version's tags are written by the train zone and read by the gate, `models`,
    `monitor` and `train`: a literal name on one side silently stops matching when the other
    is renamed. Every tag read by name goes through contracts/tags.py."""
    import ast

    root = Path(__file__).resolve().parents[2]
    literal_reads = []
    for package in ("registry", "training", "bulkhead", "serving", "ingestion"):
        for file in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text())):
                read = None
                if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "tags":
                    read = node.slice
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get"
                    and getattr(node.func.value, "id", None) == "tags"
                    and node.args
                ):
                    read = node.args[0]
                if isinstance(read, ast.Constant) and isinstance(read.value, str):
                    literal_reads.append(f"{file.relative_to(root)}:{node.lineno} {read.value}")
    assert literal_reads == []
