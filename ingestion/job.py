"""Entry point of the ingest Ray job: ``python -m ingestion.job <base64 spec>``, or
``python -m ingestion.job --spec-file spec.json`` (how the KubeRay RayJob in ``deploy/`` runs it).

The last line of output is machine-readable for the submitting CLI:
``BULKHEAD_RESULT {json}`` on success, ``BULKHEAD_ERROR <message>`` (exit 2) on bad input.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from ingestion.config import IngestJobSpec
from ingestion.errors import IngestError

RESULT_PREFIX = "BULKHEAD_RESULT "
ERROR_PREFIX = "BULKHEAD_ERROR "


def encode_spec(spec: IngestJobSpec) -> str:
    return base64.urlsafe_b64encode(spec.model_dump_json().encode()).decode()


def decode_spec(encoded: str) -> IngestJobSpec:
    return IngestJobSpec.model_validate_json(base64.urlsafe_b64decode(encoded.encode()))


def spec_from_argv(argv: list[str]) -> IngestJobSpec | None:
    if len(argv) == 2:
        return decode_spec(argv[1])
    if len(argv) == 3 and argv[1] == "--spec-file":
        return IngestJobSpec.model_validate_json(Path(argv[2]).read_text())
    return None


def main(argv: list[str]) -> int:
    try:
        spec = spec_from_argv(argv)
    except (OSError, ValueError) as err:
        print(f"{ERROR_PREFIX}unreadable job spec: {err}", flush=True)
        return 2
    if spec is None:
        print(
            f"{ERROR_PREFIX}usage: python -m ingestion.job <base64 spec> | --spec-file FILE",
            flush=True,
        )
        return 2
    from ingestion.pipeline import run

    try:
        result = run(spec)
    except IngestError as err:
        print(f"{ERROR_PREFIX}{err}", flush=True)
        return 2
    print(f"{RESULT_PREFIX}{result.model_dump_json()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
