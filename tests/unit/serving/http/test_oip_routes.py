"""The /v2 routes in-process, sent the way real OIP clients send them: no Content-Type or
`application/octet-stream`, Triton's binary tensors, `/versions/{v}` paths, and every refusal
in the protocol's `{"error": ...}` shape (Triton's client raises KeyError on anything else)."""

from __future__ import annotations

import json
import struct

import pytest
from fastapi.testclient import TestClient

from serving.http.oip_wire import HEADER_LENGTH, unpack_bytes_tensor
from tests.unit.serving.http.test_api import KEY, _app, built  # noqa: F401 (fixture)

AUTH = {"Authorization": f"Bearer {KEY}"}
INFER = {"id": "7", "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["ok"]}]}


@pytest.fixture
def client(tmp_path, built) -> TestClient:  # noqa: F811
    return _app(tmp_path, built)[0]


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain"])
def test_a_json_body_is_read_whatever_its_content_type(client, content_type) -> None:
    headers = {**AUTH, **({"content-type": content_type} if content_type else {})}
    answer = client.post(
        "/v2/models/sentiment/infer", content=json.dumps(INFER).encode(), headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == "7" and answer.headers["x-model-version"] == "5"


def test_binary_texts_in_and_binary_outputs_back(client) -> None:
    raw = struct.pack("<I", 2) + b"ok"
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "text",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    answer = client.post(
        "/v2/models/sentiment/infer",
        content=header + raw,
        headers={
            **AUTH,
            HEADER_LENGTH: str(len(header)),
            "content-type": "application/octet-stream",
        },
    )
    assert answer.status_code == 200, answer.text
    n = int(answer.headers[HEADER_LENGTH])
    meta = json.loads(answer.content[:n])
    sizes = [o["parameters"]["binary_data_size"] for o in meta["outputs"]]
    labels = unpack_bytes_tensor(answer.content[n : n + sizes[0]])
    assert len(labels) == 1 and answer.headers["x-model-version"] == "5"
    assert len(answer.content) == n + sum(sizes)


def test_server_metadata_names_the_binary_extension(client) -> None:
    meta = client.get("/v2").json()
    assert meta["name"] == "bulkhead" and "binary_tensor_data" in meta["extensions"]


def test_the_served_version_answers_under_its_version_path_and_no_other(client) -> None:
    base = "/v2/models/sentiment/versions"
    assert client.get(f"{base}/5", headers=AUTH).json()["versions"] == ["5"]
    assert client.get(f"{base}/5/ready", headers=AUTH).status_code == 200
    pinned = client.post(f"{base}/5/infer", json=INFER, headers=AUTH)
    assert pinned.status_code == 200 and pinned.json()["model_version"] == "5"
    refusals = [
        client.get(f"{base}/4", headers=AUTH),
        client.get(f"{base}/4/ready", headers=AUTH),
        client.post(f"{base}/4/infer", json=INFER, headers=AUTH),
    ]
    for other in refusals:
        assert other.status_code == 404, other.text
        assert "serves version 5" in other.json()["error"]


@pytest.mark.parametrize(
    ("send", "status"),
    [
        (lambda c: c.post("/v2/models/sentiment/infer", json=INFER), 401),
        (lambda c: c.post("/v2/models/sentiment/infer", content=b"{", headers=AUTH), 400),
        (lambda c: c.post("/v2/models/sentiment/infer", content=b"x" * 5000, headers=AUTH), 413),
        (
            lambda c: c.post(
                "/v2/models/sentiment/infer",
                json=INFER,
                headers={**AUTH, "content-encoding": "gzip"},
            ),
            415,
        ),
        (lambda c: c.get("/v2/models/sentiment/nothing-here", headers=AUTH), 404),
        (lambda c: c.get("/v2/models/sentiment/infer", headers=AUTH), 405),
        (lambda c: c.get("/v2/models/nope", headers=AUTH), 404),
    ],
)
def test_every_v2_refusal_has_the_protocols_error_body(client, send, status) -> None:
    answer = send(client)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]


def test_v1_refusals_keep_their_detail_body(client) -> None:
    answer = client.post("/v1/predict", json={"texts": ["x"]})
    assert answer.status_code == 401 and set(answer.json()) == {"detail"}
    assert client.get("/nothing-here").json() == {"detail": "no such route: GET /nothing-here"}
    wrong_method = client.get("/v1/predict", headers=AUTH)
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "GET is not allowed on /v1/predict"}
    invalid = client.post("/v1/predict", json={"text": "x"}, headers=AUTH)
    assert invalid.status_code == 422 and isinstance(invalid.json()["detail"], str)
    assert invalid.json()["detail"].startswith("body.texts") and invalid.json()["errors"]
