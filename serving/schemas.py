"""Request and response payloads of the ingress (v1 and the Open Inference Protocol v2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr] = Field(
        min_length=1, description="Texts to classify (limits: see the service's /v1/limits)."
    )


class PredictionOut(BaseModel):
    label: str
    score: float = Field(description="Probability of `label`.")
    scores: dict[str, float] = Field(description="Probability of every label.")


class ModelRef(BaseModel):
    name: str
    version: str
    run_id: str | None
    precision: str
    snapshot_digest: str | None = Field(
        None,
        description="The data snapshot this version learned from, as its verified signature "
        "binds it: `bulkhead verify` goes from here back to the data.",
    )


class PredictResponse(BaseModel):
    predictions: list[PredictionOut]
    model: ModelRef
    request_id: str | None = Field(
        None, description="This request's id (also `x-bulkhead-request-id`): what feedback names."
    )


class FeedbackRequest(BaseModel):
    """The true label of one text of an earlier prediction request."""

    model_config = ConfigDict(extra="forbid")

    request_id: StrictStr = Field(
        min_length=8, max_length=128, description="The `x-bulkhead-request-id` of the prediction."
    )
    label: StrictStr = Field(
        min_length=1, max_length=100, description="The true label: one of the model's labels."
    )
    index: int = Field(0, ge=0, lt=1024, description="Which text of that request (0: first).")
    note: StrictStr | None = Field(None, max_length=500, description="Free text, optional.")


class FeedbackAccepted(BaseModel):
    request_id: str
    index: int
    model: str
    label: str


class ListedModel(BaseModel):
    """One model a caller may call, as ``GET /v1/models`` lists it."""

    name: str
    version: str | None = Field(
        description="The version its replicas answer with now (None: none verified yet, or a "
        "family member not loaded on any replica that answered)."
    )
    ready: bool = Field(description="Whether a prediction would be answered now.")
    family: str | None = Field(
        None, description="The family application whose shared replicas serve it, if any."
    )
    routes: dict[str, str] = Field(description="Route name -> path, e.g. predict.")


class ModelList(BaseModel):
    """``GET /v1/models``: the models the caller's key may call (KServe's v1 protocol lists
    the server's models at the same path)."""

    models: list[ListedModel]


class LimitsOut(BaseModel):
    max_body_bytes: int
    body_timeout_s: float
    max_texts: int
    max_chars: int


class InferTensor(BaseModel):
    """One OIP v2 input tensor; Bulkhead takes a single BYTES tensor of texts."""

    model_config = ConfigDict(extra="allow")

    name: str
    shape: list[int]
    datatype: Literal["BYTES"]
    # Absent when the texts travel as binary after the JSON header (parameters.binary_data_size).
    data: list[StrictStr] | None = None
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    inputs: list[InferTensor] = Field(min_length=1, max_length=1)
    outputs: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] | None = None


class InferOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = None  # None: sent as binary (parameters.binary_data_size)
    parameters: dict[str, Any] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[InferOutput]


class ServerMetadata(BaseModel):
    """``GET /v2``: who answers, and which protocol extensions it speaks."""

    name: str
    version: str
    extensions: list[str]


class TensorMeta(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMeta]
    outputs: list[TensorMeta]


class RolloutSeen(BaseModel):
    """The registry's rollout as this replica follows it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    phase: str
    candidate: str
    weight: int = Field(description="Canary share in percent.")
    candidate_loaded: bool = Field(
        description="This replica holds the candidate (until then all traffic stays on the "
        "champion)."
    )
    shadow_pending: int


class PayloadLogSeen(BaseModel):
    """This replica's payload log since it started: records by outcome (sent, or dropped:
    buffer_full, drop_busy, drop_unreachable, too_large) and why the drop last failed."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool
    sample_rate: float
    inputs: str
    pending: int
    records: dict[str, int]
    drop_error: str | None


class ServingStatus(BaseModel):
    """What one replica serves and what it refused, and why (``bulkhead status`` shows it)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    alias: str
    version: str | None = Field(description="The version this replica answers with.")
    precision: str | None
    last_error: str | None = Field(description="Why the last registry poll did not swap.")
    refused: dict[str, str] = Field(
        description="Versions this replica will not load (until restarted), with the reason."
    )
    signed_by: str | None = Field(
        None, description="Key id the served version's signature was verified under."
    )
    snapshot_digest: str | None = Field(None, description="The data it learned from.")
    rollout: RolloutSeen | None = None
    payload_log: PayloadLogSeen | None = None
