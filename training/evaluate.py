"""Held-out evaluation and behaviour checks, on the exported model (what serving will run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Predict = Callable[[list[str]], np.ndarray]  # texts -> logits


def classification_metrics(
    y_true: list[int], y_pred: np.ndarray, label_names: list[str]
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }
    precision, recall, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(label_names))), zero_division=0
    )
    for name, p, r in zip(label_names, precision, recall, strict=True):
        metrics[f"precision_{name}"] = float(p)
        metrics[f"recall_{name}"] = float(r)
    return metrics


def confusion_png(
    y_true: list[int], y_pred: np.ndarray, label_names: list[str], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axes = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, display_labels=label_names, ax=axes, colorbar=False
    )
    axes.set_title("Test split confusion matrix")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# Behaviour checks (Made-With-ML style): the bundled task's positive label is `fresh`.
_POSITIVE_ADJECTIVES = ["wonderful", "brilliant", "moving", "funny", "beautiful", "great"]
_NAMES = ["Tom", "Maria", "Kenji", "Aisha", "Olga", "Pedro"]
_NAME_TEMPLATES = [
    "{name} gives a warm, funny and touching performance.",
    "Even {name} cannot save this dull, lifeless script.",
    "I saw it with {name} and we both found it forgettable.",
]


def behaviour_checks(
    predict: Predict, label_names: list[str], texts: list[str]
) -> dict[str, float]:
    """Negation direction, invariance to names and to whitespace, as fractions in [0, 1]."""
    results: dict[str, float] = {}
    name_consistent = 0
    for template in _NAME_TEMPLATES:
        labels = predict([template.format(name=n) for n in _NAMES]).argmax(-1)
        name_consistent += int(len(set(labels.tolist())) == 1)
    results["behaviour_invariance_names"] = name_consistent / len(_NAME_TEMPLATES)

    sample = texts[:50]
    spaced = ["  " + "  ".join(t.split(" ")) + " \n" for t in sample]
    same = predict(sample).argmax(-1) == predict(spaced).argmax(-1)
    results["behaviour_invariance_whitespace"] = float(same.mean())

    if "fresh" in label_names:
        positive = label_names.index("fresh")
        plain = [f"The movie was {a}." for a in _POSITIVE_ADJECTIVES]
        negated = [f"The movie was not {a}." for a in _POSITIVE_ADJECTIVES]
        p_plain = _softmax(predict(plain))[:, positive]
        p_negated = _softmax(predict(negated))[:, positive]
        results["behaviour_negation_direction"] = float((p_negated < p_plain).mean())
    return results


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    result: np.ndarray = shifted / shifted.sum(axis=-1, keepdims=True)
    return result
