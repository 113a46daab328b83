"""A real snapshot and a real tiny bundle over its labels, with the tags the train job would
record: shared by the signer's tests (built once per session: torch export takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import snapshot as snapshots
from contracts.tags import (
    ACCURACY_TAG,
    DATASET_DIGEST_TAG,
    GATE_PASSED_TAG,
    MACRO_F1_TAG,
    MANIFEST_DIGEST_TAG,
    TRAINING_RUN_TAG,
)
from registry import bundle
from tests.utils.bundles import held_out_figures, make_bundle
from tests.utils.snapshots import make_snapshot


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A snapshot, a bundle over its labels, and the tags the train job would record: its
    figures computed the train zone's way (HF tokenizer, scikit-learn), not the signer's."""
    root = tmp_path_factory.mktemp("signer")
    snapshot = make_snapshot(root / "data", n=200)
    manifest = snapshots.load_manifest(snapshot)
    folder = make_bundle(root / "bundle", dataset_digest=manifest.digest)
    written = bundle.verify(folder)
    metrics = held_out_figures(folder, snapshot)
    tags = {
        GATE_PASSED_TAG: "true",
        MANIFEST_DIGEST_TAG: bundle.manifest_digest(folder),
        DATASET_DIGEST_TAG: manifest.digest,
        TRAINING_RUN_TAG: written.training_run_id,
        ACCURACY_TAG: f"{metrics['accuracy']:.6g}",
        MACRO_F1_TAG: f"{metrics['macro_f1']:.6g}",
    }
    return folder, snapshot.parent, tags
