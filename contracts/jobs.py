"""How the control plane and a zone's Ray job talk: a spec in, one result line out.

The spec travels base64-encoded on the job's command line (or as a file for KubeRay); the
job's last line of output is ``BULKHEAD_RESULT {json}`` or ``BULKHEAD_ERROR <why>``, and its
exit code says which kind of failure it was.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from enum import IntEnum
from typing import Any, TypeVar

from pydantic import BaseModel

RESULT_PREFIX = "BULKHEAD_RESULT "
ERROR_PREFIX = "BULKHEAD_ERROR "

SpecT = TypeVar("SpecT", bound=BaseModel)


class JobExit(IntEnum):
    """Exit codes of every zone job (``python -m ingestion.job``, ``training.job``...)."""

    OK = 0
    # The job crashed (an exception Ray reports); no result line.
    CRASHED = 1
    # The spec, the snapshot or the input data was unusable; nothing was written.
    BAD_INPUT = 2
    # Training finished and registered a version, but the version failed the gate.
    GATE_FAILED = 3


def encode_spec(spec: BaseModel) -> str:
    return base64.urlsafe_b64encode(spec.model_dump_json().encode()).decode()


def decode_spec(model: type[SpecT], encoded: str) -> SpecT:
    return model.model_validate_json(base64.urlsafe_b64decode(encoded.encode()))


def result_line(result: BaseModel) -> str:
    return f"{RESULT_PREFIX}{result.model_dump_json()}"


def error_line(message: str) -> str:
    return f"{ERROR_PREFIX}{message}"


def parse_output(lines: Iterable[str]) -> tuple[dict[str, Any] | None, str | None]:
    """The last result and the last error a job printed (either may be missing)."""
    result: dict[str, Any] | None = None
    error: str | None = None
    for line in lines:
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
        elif line.startswith(ERROR_PREFIX):
            error = line[len(ERROR_PREFIX) :]
    return result, error
