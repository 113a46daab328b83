"""The OIP v2 mapping and the error table, without a server."""

from __future__ import annotations

import pytest

from serving.http import errors
from serving.http.oip import infer_response, model_metadata, request_texts
from serving.predictor import Prediction
from serving.schemas import InferRequest


def _request(shape: list[int], data: list[str]) -> InferRequest:
    return InferRequest.model_validate(
        {
            "id": "r1",
            "inputs": [{"name": "text", "shape": shape, "datatype": "BYTES", "data": data}],
        }
    )


def test_the_texts_come_from_the_single_bytes_tensor() -> None:
    assert request_texts(_request([2], ["a", "b"])) == ["a", "b"]


@pytest.mark.parametrize("shape", [[3], [1, 2], []])
def test_a_shape_that_does_not_match_the_data_is_invalid_input(shape: list[int]) -> None:
    with pytest.raises(errors.InvalidInput, match="does not match 2 texts"):
        request_texts(_request(shape, ["a", "b"]))


def test_predictions_map_to_label_score_and_row_major_scores() -> None:
    labels = ["fresh", "rotten"]
    predictions = [
        Prediction("fresh", 0.9, {"fresh": 0.9, "rotten": 0.1}),
        Prediction("rotten", 0.7, {"fresh": 0.3, "rotten": 0.7}),
    ]
    answer = infer_response("sentiment", "4", "r1", predictions, labels)
    outputs = {o.name: o for o in answer.outputs}
    assert (answer.model_name, answer.model_version, answer.id) == ("sentiment", "4", "r1")
    assert outputs["label"].data == ["fresh", "rotten"] and outputs["label"].shape == [2]
    assert outputs["score"].data == [0.9, 0.7] and outputs["score"].datatype == "FP32"
    assert outputs["scores"].shape == [2, 2]
    assert outputs["scores"].data == [0.9, 0.1, 0.3, 0.7]


def test_metadata_names_the_tensors_and_the_label_count() -> None:
    meta = model_metadata("sentiment", "4", ["a", "b", "c"])
    assert meta.versions == ["4"] and meta.platform == "onnxruntime_onnx"
    assert [t.name for t in meta.inputs] == ["text"]
    assert {t.name: t.shape for t in meta.outputs}["scores"] == [-1, 3]


def test_every_serving_error_has_exactly_one_4xx_or_503_status() -> None:
    kinds = errors.ServingError.__subclasses__()
    assert set(kinds) == set(errors.STATUS), "a new error type needs its row in STATUS"
    assert errors.status_of(errors.InvalidInput("x")) == 422
    assert errors.status_of(errors.UnknownModel("x")) == 404
    no_model = errors.NoModelYet("loading")
    assert errors.status_of(no_model) == 503 and no_model.headers["Retry-After"] == "5"
