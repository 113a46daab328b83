"""The registry's rule on artefact uploads by zone users fails closed: only a running run's
own files (what `log_artifacts` sends, MLflow 3.17's route form) may be written."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from registry import auth_app

RUN = "0123456789abcdef0123456789abcdef"
UPLOAD = "mlflow-artifacts/artifacts/"


class Store:
    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses

    def get_run(self, run_id: str) -> Any:
        if run_id not in self.statuses:
            raise LookupError(run_id)
        return SimpleNamespace(info=SimpleNamespace(status=self.statuses[run_id]))


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    import mlflow.server.handlers as handlers

    store = Store({RUN: "RUNNING", "f" * 32: "FINISHED"})
    monkeypatch.setattr(handlers, "_get_tracking_store", lambda: store)
    return store


def test_a_running_runs_own_files_may_be_written(store: Store) -> None:
    assert (
        auth_app.artifact_write_refusal("PUT", f"{UPLOAD}1/{RUN}/artifacts/bundle/m.onnx") is None
    )
    assert auth_app.artifact_write_refusal("GET", f"{UPLOAD}anything") is None


@pytest.mark.parametrize(
    "path",
    [
        f"1/{'f' * 32}/artifacts/bundle/model.onnx",  # a registered bundle's run, ended
        "1/models/m-0123/artifacts/model.onnx",  # a logged model's folder: no run to check
        f"1/{'e' * 32}/artifacts/x",  # a run the store does not know
        f"1/{RUN}/artifacts/../../{'f' * 32}/artifacts/bundle/model.onnx",
        f"1/{RUN}/artifacts//x",
        f"1/{RUN}/artifacts",
        f"x/{RUN}/artifacts/y",
        f"1/{RUN.upper()}/artifacts/y",
        "",
    ],
)
def test_anything_else_is_refused(store: Store, path: str) -> None:
    """Found by review: a path the rule could not parse was let through (fail open)."""
    assert auth_app.artifact_write_refusal("PUT", UPLOAD + path) is not None
