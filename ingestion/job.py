"""Entry point of the ingest Ray job: ``python -m ingestion.job <base64 spec>``, or
``python -m ingestion.job --spec-file spec.json`` (how the KubeRay RayJob in ``deploy/`` runs it).

The last line of output is machine-readable for the submitting CLI:
``BULKHEAD_RESULT {json}`` on success, ``BULKHEAD_ERROR <message>`` (exit 2) on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

from contracts import jobs
from contracts.jobs import JobExit, error_line, result_line
from ingestion.schema import IngestError, IngestJobSpec


def decode_spec(encoded: str) -> IngestJobSpec:
    return jobs.decode_spec(IngestJobSpec, encoded)


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
        print(error_line(f"unreadable job spec: {err}"), flush=True)
        return JobExit.BAD_INPUT
    if spec is None:
        print(
            error_line("usage: python -m ingestion.job <base64 spec> | --spec-file FILE"),
            flush=True,
        )
        return JobExit.BAD_INPUT
    from ingestion.pipeline import run

    try:
        result = run(spec)
    except IngestError as err:
        print(error_line(str(err)), flush=True)
        return JobExit.BAD_INPUT
    print(result_line(result), flush=True)
    return JobExit.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv))
