"""The training loop, ONNX export and bundle contract on a tiny model, without Ray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from registry import bundle
from tests.utils.snapshots import make_snapshot
from training import evaluate, export
from training.data import load_snapshot
from training.loop import batches, epoch_order, make_optimizer, plain_loop_throughput, train_steps
from training.modeling import build_model, load_tokenizer
from training.schema import load_config


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_snapshot(tmp_path_factory.mktemp("snap"))


def test_shards_are_equal_disjoint_and_reproducible() -> None:
    shards = [epoch_order(103, seed=1, epoch=0, rank=r, world=3) for r in range(3)]
    assert {len(s) for s in shards} == {34}
    assert not set(shards[0]) & set(shards[1])
    assert shards[0] == epoch_order(103, seed=1, epoch=0, rank=0, world=3)
    assert shards[0] != epoch_order(103, seed=1, epoch=1, rank=0, world=3)


def test_batches_resume_mid_epoch() -> None:
    order = list(range(10))
    all_batches = list(batches(order, 3, 0))
    assert list(batches(order, 3, 2)) == all_batches[2:]
    assert all_batches[-1] == (3, [9])


def test_load_snapshot_subsamples_the_train_split_only(snapshot: Path) -> None:
    data = load_snapshot(snapshot, max_train_examples=50, seed=3)
    assert len(data.train) == 50 and len(data.test) == 24
    assert data.label_names == ["fresh", "rotten"]
    again = load_snapshot(snapshot, max_train_examples=50, seed=3)
    assert again.train == data.train


def test_tiny_model_trains_exports_and_bundles(snapshot: Path, tmp_path: Path) -> None:
    import torch

    config = load_config("tiny", overrides={"epochs": 3, "max_train_examples": None})
    data = load_snapshot(snapshot, None, config.seed)
    tokenizer = load_tokenizer()
    model = build_model(config.backbone, 2, config.seed)
    optimizer = make_optimizer(model, config)
    losses = []
    for epoch in range(config.epochs):
        loss, seen, _ = train_steps(
            model, optimizer, tokenizer, data, config, torch.device("cpu"), epoch, 0, 1, 0
        )
        losses.append(loss)
        assert seen == len(data.train)
    assert losses[-1] < losses[0]

    folder = tmp_path / "bundle"
    folder.mkdir()
    names = export.export_onnx(model, tokenizer, folder / bundle.MODEL_FP32, config.max_length)
    assert names == ["input_ids", "attention_mask", "token_type_ids"]
    session = export.ort_session(folder / bundle.MODEL_FP32)
    assert export.parity(model, tokenizer, session, data.test.texts, names, 32) < 1e-4
    logits = export.ort_logits(session, tokenizer, data.test.texts, names, 32)
    assert logits.shape == (len(data.test), 2)
    metrics = evaluate.classification_metrics(
        data.test.labels, logits.argmax(-1), ["fresh", "rotten"]
    )
    assert {"accuracy", "macro_f1", "precision_fresh", "recall_rotten"} <= set(metrics)
    evaluate.confusion_png(
        data.test.labels, logits.argmax(-1), ["fresh", "rotten"], tmp_path / "c.png"
    )
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    checks = evaluate.behaviour_checks(
        lambda texts: export.ort_logits(session, tokenizer, texts, names, 32),
        ["fresh", "rotten"],
        data.test.texts,
    )
    assert set(checks) == {
        "behaviour_invariance_names",
        "behaviour_invariance_whitespace",
        "behaviour_negation_direction",
    }
    assert all(0.0 <= v <= 1.0 for v in checks.values())

    export.quantize(folder / bundle.MODEL_FP32, folder / bundle.MODEL_INT8)
    export.write_golden(folder, data.test.texts[:4], logits[:4], ["fresh", "rotten"])
    export.write_labels(folder, ["fresh", "rotten"])
    tokenizer.save_pretrained(str(folder / bundle.TOKENIZER_DIR))
    manifest = bundle.write_manifest(
        folder,
        labels=["fresh", "rotten"],
        max_length=32,
        input_names=names,
        opset=export.OPSET,
        has_int8=True,
        dataset_digest=data.manifest.digest,
        training_run_id="run",
    )
    assert "tokenizer/tokenizer.json" in manifest.files
    assert bundle.verify(folder).files == manifest.files
    golden = bundle.read_golden(folder)
    assert len(golden) == 4 and np.allclose(golden[0].logits, logits[0], atol=1e-6)

    (folder / bundle.LABELS).write_text(json.dumps(["rotten", "fresh"]))
    with pytest.raises(bundle.BundleError, match=r"labels\.json has sha256"):
        bundle.verify(folder)
    (folder / bundle.GOLDEN).unlink()
    with pytest.raises(bundle.BundleError, match=r"golden\.jsonl is missing|labels\.json"):
        bundle.verify(folder)
    (folder / bundle.MANIFEST).unlink()
    with pytest.raises(bundle.BundleError, match=r"no manifest\.json"):
        bundle.verify(folder)


def test_plain_loop_baseline_measures_throughput(snapshot: Path) -> None:
    config = load_config("tiny", overrides={"epochs": 1})
    assert plain_loop_throughput(snapshot, config) > 0
