"""The Open Inference Protocol's bytes on the wire, as real clients send and expect them.

Ray-free and FastAPI-free, so every shape is unit-tested without a server.

- The body is JSON whatever the ``Content-Type`` says: Triton's Python client sends none, or
  ``application/octet-stream`` with binary tensors; KServe's sends ``application/json``.
- Triton's binary tensor extension: with an ``Inference-Header-Content-Length: N`` header
  the first N bytes are the JSON header and the rest carries the tensors that name their
  ``parameters.binary_data_size``; a BYTES tensor is each element as a 4-byte little-endian
  length and its bytes. Outputs come back binary when the request asks for it (request
  ``parameters.binary_data_output`` or an output's ``parameters.binary_data``), with the same
  header on the response.
- Compressed request bodies (``Content-Encoding: gzip|deflate``) are refused with 415: the
  body limit counts bytes on the wire, and decompressing would let a small body grow past it.
- The classification extension (``class_count``) is refused with 400; the ``label`` output
  carries the class already.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from serving.http.errors import InvalidInput, UnsupportedEncoding
from serving.predictor import Prediction
from serving.schemas import InferOutput, InferRequest, InferResponse

HEADER_LENGTH = "inference-header-content-length"
BINARY_MEDIA_TYPE = "application/octet-stream"
JSON_MEDIA_TYPE = "application/json"
OUTPUTS = ("label", "score", "scores")
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class DecodedInfer:
    request: InferRequest
    texts: list[str]
    # Each output to answer with, in order: True when it goes back as binary.
    outputs: dict[str, bool]


def _validation_summary(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensors after it.

    Only ASCII digits count: ``str.isdigit`` also accepts characters such as '²' that
    ``int`` refuses (a 500, not the client's 400), and a count longer than the body's own
    length in digits cannot fit in it (nor would ``int`` read past 4300 digits).
    """
    if header_length is None:
        return body, b""
    count = header_length.strip()
    if (
        not (count.isascii() and count.isdigit())
        or len(count.lstrip("0")) > len(str(len(body)))
        or int(count) > len(body)
    ):
        raise InvalidInput(
            f"{HEADER_LENGTH} is {header_length[:40]!r}; it must be a byte count (ASCII "
            f"digits) within the {len(body)}-byte body"
        )
    n = int(count)
    return body[:n], body[n:]


def unpack_bytes_tensor(raw: bytes) -> list[str]:
    """Triton's BYTES serialisation: (4-byte little-endian length, bytes) per element."""
    texts, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput("binary BYTES tensor ends inside an element's length")
        (size,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise InvalidInput("binary BYTES tensor ends inside an element")
        try:
            texts.append(raw[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError as err:
            raise InvalidInput(f"text {len(texts)} is not UTF-8: {err.reason}") from err
        offset += size
    return texts


def pack_bytes_tensor(values: list[str]) -> bytes:
    encoded = [v.encode("utf-8") for v in values]
    return b"".join(_LENGTH.pack(len(e)) + e for e in encoded)


def _texts(request: InferRequest, binary: bytes) -> list[str]:
    tensor = request.inputs[0]
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None:
        if tensor.data is not None:
            raise InvalidInput("inputs[0] has both data and parameters.binary_data_size")
        if not isinstance(size, int) or size < 0 or size != len(binary):
            raise InvalidInput(
                f"inputs[0].parameters.binary_data_size is {size!r}, but {len(binary)} "
                "bytes follow the JSON header"
            )
        texts = unpack_bytes_tensor(binary)
    elif binary:
        raise InvalidInput(f"{len(binary)} bytes follow the JSON header, but no input names them")
    elif tensor.data is None:
        raise InvalidInput("inputs[0] has no data")
    else:
        texts = tensor.data
    # A vector of texts, or a column of them (Triton models often take [batch, 1]).
    if tensor.shape not in ([len(texts)], [len(texts), 1]):
        raise InvalidInput(
            f"inputs[0].shape {tensor.shape} does not match {len(texts)} texts "
            f"(send [{len(texts)}] or [{len(texts)}, 1])"
        )
    return texts


def _outputs(request: InferRequest) -> dict[str, bool]:
    default_binary = bool((request.parameters or {}).get("binary_data_output", False))
    if not request.outputs:
        return dict.fromkeys(OUTPUTS, default_binary)
    chosen: dict[str, bool] = {}
    for i, output in enumerate(request.outputs):
        name = output.get("name")
        if name not in OUTPUTS:
            raise InvalidInput(
                f"outputs[{i}].name is {name!r}; this model's outputs are {', '.join(OUTPUTS)}"
            )
        # The schema takes each output as a free-form object, so its parameters are whatever
        # the client sent: anything but an object is the client's mistake (400), not a 500.
        raw_params = output.get("parameters")
        if raw_params is not None and not isinstance(raw_params, dict):
            raise InvalidInput(
                f"outputs[{i}].parameters is a {type(raw_params).__name__}; "
                'it must be an object (e.g. {"binary_data": true})'
            )
        params: dict[str, Any] = raw_params or {}
        if params.get("class_count"):
            raise InvalidInput(
                "the classification extension (class_count) is not supported; "
                "the 'label' and 'scores' outputs carry the classes"
            )
        chosen[name] = bool(params.get("binary_data", default_binary))
    return chosen


def decode_infer(
    body: bytes, header_length: str | None, content_encoding: str | None
) -> DecodedInfer:
    if content_encoding not in (None, "", "identity"):
        raise UnsupportedEncoding(
            f"Content-Encoding {content_encoding!r} is not accepted; send the body uncompressed"
        )
    header, binary = _split(body, header_length)
    try:
        request = InferRequest.model_validate_json(header)
    except ValidationError as err:
        summary = _validation_summary(err)
        if header_length is not None and binary:
            # Seen in the wild: tritonclient writes this header into the headers dict its
            # caller passes, so a later JSON-only call on the same dict carries a stale one.
            summary = (
                f"the first {header_length} bytes ({HEADER_LENGTH}) are not the request's JSON "
                f"({summary}); a JSON-only request must not send that header"
            )
        raise InvalidInput(summary) from err
    return DecodedInfer(request, _texts(request, binary), _outputs(request))


def _tensors(predictions: list[Prediction], labels: list[str]) -> dict[str, InferOutput]:
    n, k = len(predictions), len(labels)
    return {
        "label": InferOutput(
            name="label", shape=[n], datatype="BYTES", data=[p.label for p in predictions]
        ),
        "score": InferOutput(
            name="score", shape=[n], datatype="FP32", data=[p.score for p in predictions]
        ),
        "scores": InferOutput(
            name="scores",
            shape=[n, k],
            datatype="FP32",
            data=[p.scores[label] for p in predictions for label in labels],
        ),
    }


def _raw(output: InferOutput) -> bytes:
    if output.datatype == "BYTES":
        return pack_bytes_tensor([str(v) for v in output.data or []])
    values = output.data or []
    return struct.pack(f"<{len(values)}f", *values)


@dataclass(frozen=True)
class EncodedInfer:
    body: bytes
    headers: dict[str, str]
    media_type: str


def encode_infer(
    name: str,
    version: str,
    decoded: DecodedInfer,
    predictions: list[Prediction],
    labels: list[str],
) -> EncodedInfer:
    """The requested outputs, in the request's order; binary ones after the JSON header."""
    tensors = _tensors(predictions, labels)
    outputs, chunks = [], []
    for output_name, binary in decoded.outputs.items():
        tensor = tensors[output_name]
        if binary:
            raw = _raw(tensor)
            chunks.append(raw)
            tensor = tensor.model_copy(
                update={"data": None, "parameters": {"binary_data_size": len(raw)}}
            )
        outputs.append(tensor)
    response = InferResponse(
        model_name=name, model_version=version, id=decoded.request.id, outputs=outputs
    )
    header = json.dumps(response.model_dump(exclude_none=True), separators=(",", ":")).encode()
    if not chunks:
        return EncodedInfer(header, {}, JSON_MEDIA_TYPE)
    return EncodedInfer(
        header + b"".join(chunks), {HEADER_LENGTH: str(len(header))}, BINARY_MEDIA_TYPE
    )
