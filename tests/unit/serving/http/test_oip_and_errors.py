"""The Open Inference Protocol's wire format (JSON and Triton's binary tensors) and the error
table, without a server. Binary bodies are built byte by byte as Triton's client builds them."""

from __future__ import annotations

import json
import struct

import pytest

from serving.http import errors
from serving.http.oip import model_metadata
from serving.http.oip_wire import (
    HEADER_LENGTH,
    DecodedInfer,
    decode_infer,
    encode_infer,
    pack_bytes_tensor,
    unpack_bytes_tensor,
)
from serving.predictor import Prediction

LABELS = ["fresh", "rotten"]
PREDICTIONS = [
    Prediction("fresh", 0.875, {"fresh": 0.875, "rotten": 0.125}),
    Prediction("rotten", 0.75, {"fresh": 0.25, "rotten": 0.75}),
]


def _json_body(shape: list[int], data: list[str], **extra: object) -> bytes:
    tensor = {"name": "text", "shape": shape, "datatype": "BYTES", "data": data}
    return json.dumps({"id": "r1", "inputs": [tensor], **extra}).encode()


def _binary_body(texts: list[str], **extra: object) -> tuple[bytes, str]:
    """As tritonclient.http sends `set_data_from_numpy(..., binary_data=True)`."""
    raw = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)
    tensor = {
        "name": "text",
        "shape": [len(texts)],
        "datatype": "BYTES",
        "parameters": {"binary_data_size": len(raw)},
    }
    header = json.dumps({"inputs": [tensor], **extra}).encode()
    return header + raw, str(len(header))


def test_the_texts_come_from_the_single_bytes_tensor() -> None:
    assert decode_infer(_json_body([2], ["a", "b"]), None, None).texts == ["a", "b"]


def test_a_column_of_texts_is_accepted_too() -> None:
    assert decode_infer(_json_body([2, 1], ["a", "b"]), None, None).texts == ["a", "b"]


@pytest.mark.parametrize("shape", [[3], [1, 2], [], [2, 2]])
def test_a_shape_that_does_not_match_the_data_is_invalid_input(shape: list[int]) -> None:
    with pytest.raises(errors.InvalidInput, match="does not match 2 texts"):
        decode_infer(_json_body(shape, ["a", "b"]), None, None)


def test_binary_texts_after_the_json_header_are_decoded() -> None:
    body, length = _binary_body(["a wonderful film", "ünïcode ✓"])
    assert decode_infer(body, length, None).texts == ["a wonderful film", "ünïcode ✓"]


def test_bytes_tensor_round_trips() -> None:
    texts = ["", "x", "ü" * 300]
    assert unpack_bytes_tensor(pack_bytes_tensor(texts)) == texts


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (lambda b, n: (b[:-3], n), "binary_data_size"),  # truncated tensor
        (lambda b, n: (b + b"xx", n), "binary_data_size"),  # trailing bytes
        (lambda b, n: (b, str(len(b) + 1)), "byte count"),  # header longer than body
        (lambda b, n: (b, "-1"), "byte count"),
        (lambda b, n: (b, "abc"), "byte count"),
        # str.isdigit() takes these, int() refuses or misreads them: a 500 before.
        (lambda b, n: (b, "²"), "byte count"),
        (lambda b, n: (b, "\u0661\u0662"), "byte count"),  # Arabic-Indic "12"
        (lambda b, n: (b, "9" * 5000), "byte count"),  # past int()'s 4300-digit limit
    ],
)
def test_malformed_binary_bodies_are_invalid_input(mangle, match: str) -> None:  # type: ignore[no-untyped-def]
    body, length = _binary_body(["a", "b"])
    with pytest.raises(errors.InvalidInput, match=match):
        decode_infer(*mangle(body, length), None)


def test_an_element_length_past_the_end_is_invalid_input() -> None:
    with pytest.raises(errors.InvalidInput, match="ends inside an element"):
        unpack_bytes_tensor(struct.pack("<I", 99) + b"abc")
    with pytest.raises(errors.InvalidInput, match="not UTF-8"):
        unpack_bytes_tensor(struct.pack("<I", 2) + b"\xff\xfe")


def test_bytes_after_a_json_only_request_are_invalid_input() -> None:
    header = _json_body([1], ["a"])
    with pytest.raises(errors.InvalidInput, match="no input names them"):
        decode_infer(header + b"junk", str(len(header)), None)


def test_a_tensor_without_data_is_invalid_input() -> None:
    body = json.dumps({"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES"}]})
    with pytest.raises(errors.InvalidInput, match="no data"):
        decode_infer(body.encode(), None, None)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{not json", "body|Invalid JSON"),
        (b'{"inputs": []}', "inputs"),
        (
            b'{"inputs": [{"name": "t", "shape": [1], "datatype": "FP32", "data": [1]}]}',
            "datatype",
        ),
    ],
)
def test_bad_json_is_one_line_of_invalid_input(body: bytes, match: str) -> None:
    with pytest.raises(errors.InvalidInput, match=match) as caught:
        decode_infer(body, None, None)
    assert "\n" not in caught.value.detail


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compressed_bodies_are_refused_not_inflated(encoding: str) -> None:
    with pytest.raises(errors.UnsupportedEncoding):
        decode_infer(_json_body([1], ["a"]), None, encoding)
    assert errors.status_of(errors.UnsupportedEncoding("x")) == 415


def test_json_outputs_map_to_label_score_and_row_major_scores() -> None:
    decoded = decode_infer(_json_body([2], ["a", "b"]), None, None)
    encoded = encode_infer("sentiment", "4", decoded, PREDICTIONS, LABELS)
    assert encoded.media_type == "application/json" and encoded.headers == {}
    answer = json.loads(encoded.body)
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("sentiment", "4", "r1")
    assert outputs["label"]["data"] == ["fresh", "rotten"] and outputs["label"]["shape"] == [2]
    assert outputs["score"]["data"] == [0.875, 0.75]
    assert outputs["scores"]["shape"] == [2, 2]
    assert outputs["scores"]["data"] == [0.875, 0.125, 0.25, 0.75]


def _split(encoded_body: bytes, length: str) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    n = int(length)
    return json.loads(encoded_body[:n]), encoded_body[n:]


def test_binary_outputs_when_the_request_asks_for_them() -> None:
    """tritonclient's default: no outputs named, request parameters.binary_data_output."""
    body, length = _binary_body(["a", "b"], parameters={"binary_data_output": True})
    decoded = decode_infer(body, length, None)
    encoded = encode_infer("sentiment", "4", decoded, PREDICTIONS, LABELS)
    assert encoded.media_type == "application/octet-stream"
    header, raw = _split(encoded.body, encoded.headers[HEADER_LENGTH])
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert [o["name"] for o in header["outputs"]] == ["label", "score", "scores"]
    assert all("data" not in o for o in header["outputs"]) and sum(sizes) == len(raw)
    labels, scores, matrix = raw[: sizes[0]], raw[sizes[0] : sizes[0] + sizes[1]], raw[-sizes[2] :]
    assert unpack_bytes_tensor(labels) == ["fresh", "rotten"]
    assert struct.unpack("<2f", scores) == (0.875, 0.75)
    assert struct.unpack("<4f", matrix) == (0.875, 0.125, 0.25, 0.75)


def test_named_outputs_choose_which_come_back_and_how() -> None:
    outputs = [
        {"name": "score", "parameters": {"binary_data": True}},
        {"name": "label", "parameters": {"binary_data": False}},
    ]
    decoded = decode_infer(_json_body([2], ["a", "b"], outputs=outputs), None, None)
    assert decoded.outputs == {"score": True, "label": False}
    encoded = encode_infer("sentiment", "4", decoded, PREDICTIONS, LABELS)
    header, raw = _split(encoded.body, encoded.headers[HEADER_LENGTH])
    assert [o["name"] for o in header["outputs"]] == ["score", "label"]
    assert header["outputs"][1]["data"] == ["fresh", "rotten"]
    assert struct.unpack("<2f", raw) == (0.875, 0.75)


def test_unknown_outputs_and_the_classification_extension_are_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="outputs are label, score, scores"):
        decode_infer(_json_body([1], ["a"], outputs=[{"name": "logits"}]), None, None)
    classes = [{"name": "label", "parameters": {"class_count": 2}}]
    with pytest.raises(errors.InvalidInput, match="class_count"):
        decode_infer(_json_body([1], ["a"], outputs=classes), None, None)


@pytest.mark.parametrize("parameters", ["binary", ["binary_data"], 1, True])
def test_output_parameters_that_are_not_an_object_are_invalid_input(parameters: object) -> None:
    outputs = [{"name": "label", "parameters": parameters}]
    with pytest.raises(errors.InvalidInput, match=r"outputs\[0\]\.parameters .* must be an object"):
        decode_infer(_json_body([1], ["a"], outputs=outputs), None, None)


def test_decoded_request_keeps_its_id() -> None:
    decoded = decode_infer(_json_body([1], ["a"]), None, None)
    assert isinstance(decoded, DecodedInfer) and decoded.request.id == "r1"


def test_metadata_names_the_tensors_and_the_label_count() -> None:
    meta = model_metadata("sentiment", "4", ["a", "b", "c"])
    assert meta.versions == ["4"] and meta.platform == "onnxruntime_onnx"
    assert [t.name for t in meta.inputs] == ["text"]
    assert {t.name: t.shape for t in meta.outputs}["scores"] == [-1, 3]


def test_every_serving_error_has_exactly_one_4xx_or_503_status() -> None:
    kinds = errors.ServingError.__subclasses__()
    assert set(kinds) == set(errors.STATUS), "a new error type needs its row in STATUS"
    assert errors.status_of(errors.InvalidInput("x")) == 422
    assert errors.oip_status(422) == 400 and errors.oip_status(404) == 404
    assert errors.status_of(errors.UnknownModel("x")) == 404
    no_model = errors.NoModelYet("loading")
    assert errors.status_of(no_model) == 503 and no_model.headers["Retry-After"] == "5"


def test_a_stale_header_length_on_a_json_request_says_so() -> None:
    """tritonclient leaves the header in its caller's dict; the refusal names the cause."""
    body = _json_body([1], ["a fine film"])
    with pytest.raises(errors.InvalidInput, match="must not send that header"):
        decode_infer(body, str(len(body) - 10), None)
