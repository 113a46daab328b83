"""From the final checkpoint to a verified bundle: export, evaluate, quantise, write.

Runs in the train job's driver on CPU. Every figure the gate judges (accuracy, macro-F1,
torch-vs-ONNX parity, latency, int8 accuracy) is measured here on the held-out test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry import bundle
from training.progress import log
from training.schema import TrainConfig, TrainJobSpec


@dataclass
class Exported:
    """The fine-tuned model, its ONNX export and what evaluating it needs."""

    config: TrainConfig
    data: Any  # training.data.SnapshotData
    model: Any
    tokenizer: Any
    names: list[str]
    fp32: Path

    def logits(self, session: Any, texts: list[str]) -> Any:
        from training import export

        return export.ort_logits(session, self.tokenizer, texts, self.names, self.config.max_length)


def build_bundle(
    spec: TrainJobSpec, checkpoint: Any, folder: Path, run_id: str, artifacts: Path
) -> dict[str, float]:
    """Export, evaluate (fp32 and int8), measure parity and latency, write the bundle."""
    exported = export_checkpoint(spec, checkpoint, folder / bundle.MODEL_FP32)
    metrics, logits = evaluate_fp32(exported, artifacts)
    has_int8 = quantize_if_close(exported, folder / bundle.MODEL_INT8, metrics)
    write_bundle(exported, folder, logits, has_int8, run_id)
    return metrics


def export_checkpoint(spec: TrainJobSpec, checkpoint: Any, fp32: Path) -> Exported:
    import torch

    from training import export
    from training.data import load_snapshot
    from training.loop import STATE_FILE
    from training.modeling import build_model, load_tokenizer

    config = spec.config
    torch.set_num_threads(2)
    data = load_snapshot(spec.snapshot, config.max_train_examples, config.seed)
    tokenizer = load_tokenizer()
    model = build_model(config.backbone, len(data.label_names), config.seed)
    with checkpoint.as_directory() as ckpt:
        state = torch.load(Path(ckpt) / STATE_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()
    names = export.export_onnx(model, tokenizer, fp32, config.max_length)
    return Exported(config, data, model, tokenizer, names, fp32)


def evaluate_fp32(exported: Exported, artifacts: Path) -> tuple[dict[str, float], Any]:
    """Accuracy, macro-F1, behaviour checks, torch-vs-ONNX parity and latency on the test
    split; returns the metrics and the test logits (the golden examples come from them)."""
    from training import evaluate, export

    config, data, test = exported.config, exported.data, exported.data.test
    session = export.ort_session(exported.fp32, threads=2)
    parity = export.parity(
        exported.model, exported.tokenizer, session, test.texts, exported.names, config.max_length
    )
    log(f"exported ONNX opset {export.OPSET}; torch vs ONNX max |diff| {parity:.2e}")
    logits = exported.logits(session, test.texts)
    predicted = logits.argmax(-1)
    metrics = evaluate.classification_metrics(test.labels, predicted, data.label_names)
    metrics["parity_max_abs_diff"] = parity
    evaluate.confusion_png(test.labels, predicted, data.label_names, artifacts / "confusion.png")
    metrics.update(
        evaluate.behaviour_checks(
            lambda texts: exported.logits(session, texts), data.label_names, test.texts
        )
    )
    latency = export.latency_ms(
        export.ort_session(exported.fp32, threads=1),
        exported.tokenizer,
        test.texts[: config.latency_samples],
        exported.names,
        config.max_length,
    )
    metrics["latency_p50_ms"], metrics["latency_p95_ms"] = latency["p50"], latency["p95"]
    log(
        f"test accuracy {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f}; "
        f"latency p50 {latency['p50']:.2f} ms"
    )
    return metrics, logits


def quantize_if_close(exported: Exported, int8: Path, metrics: dict[str, float]) -> bool:
    """An int8 copy ships only when it loses at most ``int8_max_accuracy_drop`` accuracy."""
    from training import export

    config, test = exported.config, exported.data.test
    if not config.quantize:
        return False
    export.quantize(exported.fp32, int8)
    predicted = exported.logits(export.ort_session(int8, threads=2), test.texts).argmax(-1)
    int8_accuracy = export.accuracy_of(predicted, test)
    int8_latency = export.latency_ms(
        export.ort_session(int8, threads=1),
        exported.tokenizer,
        test.texts[: config.latency_samples],
        exported.names,
        config.max_length,
    )
    metrics["int8_accuracy"] = int8_accuracy
    metrics["int8_latency_p50_ms"] = int8_latency["p50"]
    keep = metrics["accuracy"] - int8_accuracy <= config.int8_max_accuracy_drop
    if not keep:
        int8.unlink()
    log(
        f"int8 accuracy {int8_accuracy:.4f} p50 {int8_latency['p50']:.2f} ms: "
        f"{'kept' if keep else 'dropped (accuracy loss above the limit)'}"
    )
    return keep


def write_bundle(
    exported: Exported, folder: Path, logits: Any, has_int8: bool, run_id: str
) -> None:
    from training import export

    config, data = exported.config, exported.data
    golden = data.test.texts[: config.golden_examples]
    export.write_golden(folder, golden, logits[: len(golden)], data.label_names)
    export.write_labels(folder, data.label_names)
    exported.tokenizer.save_pretrained(str(folder / bundle.TOKENIZER_DIR))
    bundle.write_manifest(
        folder,
        labels=data.label_names,
        max_length=config.max_length,
        input_names=exported.names,
        opset=export.OPSET,
        has_int8=has_int8,
        dataset_digest=data.manifest.digest,
        training_run_id=run_id,
    )
    bundle.verify(folder)
