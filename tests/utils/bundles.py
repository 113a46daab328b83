"""A real (tiny, randomly initialised) model bundle, exported the way training exports it."""

from __future__ import annotations

from pathlib import Path

from registry import bundle


def make_bundle(folder: Path, with_int8: bool = False) -> Path:
    from training import export
    from training.modeling import build_model, load_tokenizer
    from training.schema import Backbone

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer()
    model = build_model(Backbone.TINY, 2, seed=0)
    names = export.export_onnx(model, tokenizer, folder / bundle.MODEL_FP32, 32)
    session = export.ort_session(folder / bundle.MODEL_FP32)
    texts = ["a wonderful film", "dull and far too long", "fine", "x " * 40]
    logits = export.ort_logits(session, tokenizer, texts, names, 32)
    if with_int8:
        export.quantize(folder / bundle.MODEL_FP32, folder / bundle.MODEL_INT8)
    export.write_golden(folder, texts, logits, ["fresh", "rotten"])
    export.write_labels(folder, ["fresh", "rotten"])
    tokenizer.save_pretrained(str(folder / bundle.TOKENIZER_DIR))
    bundle.write_manifest(
        folder,
        labels=["fresh", "rotten"],
        max_length=32,
        input_names=names,
        opset=export.OPSET,
        has_int8=with_int8,
        dataset_digest="0" * 64,
        training_run_id="test",
    )
    return folder
