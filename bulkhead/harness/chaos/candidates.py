"""Rollout candidates made from the champion's own bundle, each wrong in one known way.

A copy (a good candidate), a slow one (the graph padded with input-dependent work whose
result is multiplied by zero), an erroring one (the graph fails on inputs longer than a
token limit) and a disagreeing one (its outputs swapped: exactly what training on flipped
labels converges to, without the minutes of training on a 2-core machine). Each is a real
bundle: re-verified files, a golden set it passes (recomputed by running it), registered by
the trainer as a new version with a ``chaos`` tag, so scenarios that pick "the newest
approved version" never pick one.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bulkhead.harness.signing import NOT_FROM_A_SNAPSHOT, sign_registered
from bulkhead.platform.paths import StatePaths
from contracts.digest import sha256_file
from contracts.tags import DATASET_DIGEST_TAG, FORCED_TAG, GATE_FAILED_TAG, GATE_PASSED_TAG
from loadtests.peer_servers.text_model import TextModel
from registry import bundle

Variant = Literal["copy", "slow", "erroring", "flipped", "not-onnx"]
CHAOS_TAG = "chaos"

# Texts every variant's golden set is built from (the replica's warm-up text is 8 tokens).
GOLDEN_TEXTS = [
    "a wonderful film",
    "dull and far too long",
    "the cast is great",
    "i did not like it",
]


def _onnx_tail(model_path: Path, build: Callable[[Any, str], str]) -> None:
    """Rewrite the graph so that its output is ``build(graph, old_output_name)``."""
    import onnx

    model = onnx.load(str(model_path))
    graph = model.graph
    output = graph.output[0]
    old = output.name
    renamed = f"{old}__inner"
    for node in graph.node:
        node.output[:] = [renamed if name == old else name for name in node.output]
    final = build(graph, renamed)
    # The new tail's last node writes the original output name.
    for node in graph.node:
        node.output[:] = [old if name == final else name for name in node.output]
    onnx.checker.check_model(model)
    onnx.save(model, str(model_path))


def _slow(graph: Any, logits: str, rows: int = 64, width: int = 384, depth: int = 12) -> str:
    """logits + 0 * f(input_ids): ``depth`` input-dependent [rows x width] matmuls."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    graph.initializer.extend(
        [
            numpy_helper.from_array(weights, "pad_w"),
            numpy_helper.from_array(np.full((rows, width), 1e-6, np.float32), "pad_seed"),
            numpy_helper.from_array(np.zeros((1,), np.float32), "pad_zero"),
        ]
    )
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["pad_ids"], to=1),
        helper.make_node("ReduceSum", ["pad_ids"], ["pad_sum"], keepdims=0),
        helper.make_node("Mul", ["pad_seed", "pad_sum"], ["pad_0"]),
    ]
    for i in range(depth):
        nodes.append(helper.make_node("MatMul", [f"pad_{i}", "pad_w"], [f"pad_m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"pad_m{i}"], [f"pad_{i + 1}"]))
    nodes += [
        helper.make_node("ReduceSum", [f"pad_{depth}"], ["pad_total"], keepdims=0),
        helper.make_node("Mul", ["pad_total", "pad_zero"], ["pad_nothing"]),
        helper.make_node("Add", [logits, "pad_nothing"], ["slow_logits"]),
    ]
    graph.node.extend(nodes)
    return "slow_logits"


def _erroring(graph: Any, logits: str, max_tokens: int) -> str:
    """Fails (Gather out of bounds) when a text in the call has more than ``max_tokens``
    tokens, [CLS] and [SEP] included; otherwise the champion's logits."""
    from onnx import helper, numpy_helper

    graph.initializer.extend(
        [
            numpy_helper.from_array(np.zeros((max_tokens + 1,), np.float32), "err_table"),
            numpy_helper.from_array(np.array([1], np.int64), "err_axis"),
            numpy_helper.from_array(np.array(0, np.int64), "err_pad"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Greater", ["input_ids", "err_pad"], ["err_real"]),
            helper.make_node("Cast", ["err_real"], ["err_real_i"], to=7),
            helper.make_node("ReduceSum", ["err_real_i", "err_axis"], ["err_lengths"]),
            helper.make_node("ReduceMax", ["err_lengths"], ["err_longest"], keepdims=0),
            helper.make_node("Gather", ["err_table", "err_longest"], ["err_zero"]),
            helper.make_node("Add", [logits, "err_zero"], ["erroring_logits"]),
        ]
    )
    return "erroring_logits"


def _flipped(graph: Any, logits: str, labels: int) -> str:
    """The label columns in reverse order: every argmax moves to another label."""
    from onnx import helper, numpy_helper

    order = np.arange(labels - 1, -1, -1, dtype=np.int64)
    graph.initializer.append(numpy_helper.from_array(order, "flip_order"))
    graph.node.append(helper.make_node("Gather", [logits, "flip_order"], ["flipped"], axis=1))
    return "flipped"


def token_lengths(folder: Path, texts: list[str]) -> list[int]:
    tokenizer = TextModel(folder).tokenizer
    return [sum(e.attention_mask) for e in tokenizer.encode_batch(texts)]


def _reseal(folder: Path) -> None:
    """Every file's digest in the manifest again (the manifest is what gets pinned)."""
    manifest = json.loads((folder / bundle.MANIFEST).read_text())
    for relative in list(manifest["files"]):
        manifest["files"][relative] = sha256_file(folder / relative)
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest))


def _regolden(folder: Path) -> None:
    """A golden set the variant passes: its own logits on short texts."""
    runner = TextModel(folder)
    logits = runner.logits(GOLDEN_TEXTS)
    lines = [
        bundle.GoldenExample(
            text=text,
            label=runner.labels[int(row.argmax())],
            logits=[float(v) for v in row],
        ).model_dump_json()
        for text, row in zip(GOLDEN_TEXTS, logits, strict=True)
    ]
    (folder / bundle.GOLDEN).write_text("\n".join(lines) + "\n")
    _reseal(folder)


def model_ms(folder: Path, text: str = "a fine film with a cast that works hard") -> float:
    """Median single-thread milliseconds of one text through the bundle's fp32 model."""
    runner = TextModel(folder)
    runner.logits([text])
    times = []
    for _ in range(30):
        started = time.perf_counter()
        runner.logits([text])
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def _slow_depth(folder: Path, target_factor: float, min_added_ms: float) -> int:
    """Matmul layers that make the model ``target_factor`` times slower (adding at least
    ``min_added_ms``): measured on a trial copy, the cost being linear in depth."""
    base = model_ms(folder)
    trial_depth = 8
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "trial"
        shutil.copytree(folder, trial)
        _onnx_tail(trial / bundle.MODEL_FP32, lambda g, out: _slow(g, out, depth=trial_depth))
        _reseal(trial)
        per_layer = max((model_ms(trial) - base) / trial_depth, 0.01)
    wanted = max((target_factor - 1) * base, min_added_ms)
    return max(1, min(400, round(wanted / per_layer)))


def make_variant(
    folder: Path,
    variant: Variant,
    texts: list[str] | None = None,
    slowdown: float = 8.0,
    min_added_ms: float = 5.0,
) -> None:
    """Turn the bundle in ``folder`` (a download of the champion) into ``variant``. The
    erroring variant fails on texts longer than the median of ``texts`` (about half of a
    load drawn from them), never on the replica's warm-up text."""
    max_tokens = 24
    if variant == "erroring" and texts:
        max_tokens = max(12, int(np.median(token_lengths(folder, texts[:500]))))
    models = [folder / bundle.MODEL_FP32]
    if (folder / bundle.MODEL_INT8).exists():
        models.append(folder / bundle.MODEL_INT8)
    labels = len(json.loads((folder / bundle.LABELS).read_text()))
    depth = _slow_depth(folder, slowdown, min_added_ms) if variant == "slow" else 0
    for model in models:
        if variant == "slow":
            _onnx_tail(model, lambda g, out: _slow(g, out, depth=depth))
        elif variant == "erroring":
            _onnx_tail(model, lambda g, out: _erroring(g, out, max_tokens))
        elif variant == "flipped":
            _onnx_tail(model, lambda g, out: _flipped(g, out, labels))
        elif variant == "not-onnx":
            model.write_bytes(b"not an ONNX model\n" * 64)
    if variant == "not-onnx":
        _reseal(folder)
    elif variant != "copy":
        _regolden(folder)


def register_variant(
    paths: StatePaths,
    writer: Any,
    champion: str,
    experiment_name: str,
    variant: Variant,
    texts: list[str] | None = None,
    signed: bool = True,
) -> str:
    """Download the champion, make ``variant`` of it, register it as the trainer and (unless
    ``signed`` is False) sign it as the signer (bulkhead/harness/signing.py: what is wrong
    with each is what serving, not an offline check, must catch). The copy, slow, erroring
    and not-onnx variants carry a passed gate (the offline gate cannot see what is wrong with
    them); the flipped one fails the gate and is force-approved."""
    import mlflow

    # MLflow prints run links to stdout; `chaos --json` owns stdout.
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{writer.model_name}/{champion}", dst_path=tmp
            )
        )
        make_variant(local, variant, texts=texts)
        client = writer.client
        experiment = client.get_experiment_by_name(experiment_name)
        run = client.create_run(experiment.experiment_id, run_name=f"chaos-{variant}")
        logged = writer.log_bundle(run.info.run_id, local)
        client.set_terminated(run.info.run_id)
        if variant == "flipped":
            tags = {
                GATE_PASSED_TAG: "false",
                GATE_FAILED_TAG: "chaos: trained on flipped labels",
                FORCED_TAG: "true",
            }
        else:
            tags = {GATE_PASSED_TAG: "true"}
        new: str = writer.register(
            run.info.run_id, logged, {**tags, CHAOS_TAG: f"{variant} of v{champion}"}
        )
        if signed:
            snapshot = writer.tags(champion).get(DATASET_DIGEST_TAG, NOT_FROM_A_SNAPSHOT)
            sign_registered(
                paths, writer.model_name, new, snapshot_digest=snapshot, run_id=run.info.run_id
            )
        return new
