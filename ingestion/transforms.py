"""Row-level cleaning, pure pandas: Ray Data maps these over blocks, unit tests call them."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import pandas as pd

from ingestion.schema import IngestError

# Row status values: every input row ends in exactly one bucket, so the manifest can account
# for all of them.
OK = "ok"
EMPTY = "empty"
TOO_LONG = "too_long"
OTHER_LABEL = "other_label"

_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b\ufeff]")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Canonical form: NFKC, no control or zero-width characters, single spaces, trimmed."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    return _SPACE.sub(" ", text).strip()


def dedupe_key(normalized: str) -> str:
    """Texts that differ only in case are the same example."""
    return normalized.casefold()


def check_columns(columns: list[str], text_column: str, label_column: str) -> None:
    missing = [c for c in (text_column, label_column) if c not in columns]
    if missing:
        raise IngestError(
            f"column(s) {', '.join(repr(c) for c in missing)} not found in the input; "
            f"its columns are {columns}. Name them with --text-column/--label-column"
        )


def clean_batch(
    batch: pd.DataFrame,
    text_column: str,
    label_column: str,
    labels: tuple[str, ...] | None,
    max_text_chars: int,
) -> pd.DataFrame:
    """Normalise one block and tag every row with a status; nothing is silently lost."""
    check_columns(list(batch.columns), text_column, label_column)
    raw_text = batch[text_column]
    raw_label = batch[label_column]
    text = raw_text.map(lambda v: normalize_text(str(v)) if _present(v) else "")
    label = raw_label.map(lambda v: normalize_text(str(v)) if _present(v) else "")
    status = pd.Series(OK, index=batch.index, dtype=object)
    status[(text == "") | (label == "")] = EMPTY
    status[(status == OK) & (text.str.len() > max_text_chars)] = TOO_LONG
    if labels is not None:
        status[(status == OK) & ~label.isin(labels)] = OTHER_LABEL
    return pd.DataFrame(
        {
            "text": text.astype(str),
            "label": label.astype(str),
            "key": text.map(dedupe_key).astype(str),
            "status": status.astype(str),
        }
    )


def _present(value: object) -> bool:
    if value is None:
        return False
    try:
        return not bool(pd.isna(value))
    except (TypeError, ValueError):
        return True


def split_hash(seed: int, key: str) -> int:
    """Stable pseudo-random rank of a text, independent of row order and block layout."""
    digest = hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # fits a signed 64-bit column


def row_digest(split: str, label: str, text: str) -> str:
    return hashlib.sha256(f"{split}\x1f{label}\x1f{text}".encode()).hexdigest()
