"""The serve app's live settings: `user_config` in serve_config.yaml, applied by reconfigure()."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts import env
from contracts import serve_limits as limits
from contracts.tags import CHAMPION


class BatchingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        False,
        description="Dynamic batching with @serve.batch. Off by default: at one text per "
        "request on small replicas most batches hold one text and the wait only adds latency.",
    )
    max_batch_size: int = Field(8, ge=1, le=256, description="Texts per model call.")
    batch_wait_timeout_s: float = Field(0.002, ge=0, le=1, description="Wait to fill a batch.")


class LimitsConfig(BaseModel):
    """Every request limit, each answered with a clear 4xx."""

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(
        limits.MAX_BODY_BYTES, ge=1024, description="Request body size (413 above)."
    )
    body_timeout_s: float = Field(
        limits.BODY_TIMEOUT_S,
        gt=0,
        le=300,
        description=(
            "Time a request body may take to arrive, from its first byte to its last (408 "
            "beyond): a client trickling a body (slowloris) cannot hold a slot for longer."
        ),
    )
    max_texts: int = Field(
        limits.MAX_TEXTS, ge=1, le=4096, description="Texts per request (422 above)."
    )
    max_chars: int = Field(limits.MAX_CHARS, ge=1, description="Characters per text (422 above).")
    max_in_flight: int = Field(
        limits.MAX_IN_FLIGHT,
        ge=1,
        le=4096,
        description=(
            "Prediction requests one replica holds at once; beyond it the replica answers 503 "
            "with Retry-After at once instead of queueing (keeps accepted requests' latency "
            "bounded under overload). Keep it below the deployment's max_ongoing_requests."
        ),
    )


class PayloadLogConfig(BaseModel):
    """Payload logging into the one-way drop (contracts/drop.py), off the request path."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Send sampled predictions to the drop.")
    sample_rate: float = Field(
        1.0, ge=0, le=1, description="Share of prediction requests logged (every text of one)."
    )
    inputs: Literal["text", "hash"] = Field(
        "hash",
        description=(
            "What of each input text is logged: its SHA-256 only (the default), or the text "
            "itself, which retraining on feedback needs (`bulkhead ingest --from-feedback`)."
        ),
    )
    buffer_records: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Records a replica holds for the next flush; beyond it they are dropped "
        "and counted (a slow or absent drop never holds memory or a request).",
    )
    flush_interval_s: float = Field(
        0.5, gt=0, le=60, description="How often a replica sends what it holds."
    )
    feedback_max_age_s: float = Field(
        7 * 86_400,
        gt=0,
        le=366 * 86_400,
        description="Feedback is accepted for requests at most this old (410 beyond).",
    )
    feedback_per_key_per_s: float = Field(
        20,
        gt=0,
        le=10_000,
        description=(
            "Feedback records one client key may send a replica per second, with bursts of "
            "twice that (429 with Retry-After beyond): no client can take the drop's feedback "
            "share from the others."
        ),
    )


class TrustConfig(BaseModel):
    """Which signatures a model's versions must carry to be served (serving/trust.py)."""

    model_config = ConfigDict(extra="forbid")

    signers: list[Annotated[str, StringConstraints(pattern=r"^(\*|[0-9a-f]{12,64})$")]] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        max_length=8,
        description=(
            "Key ids (12 or more hex characters of one, as `bulkhead signing keys` lists "
            "them) that may sign this model's versions; two during a key rotation. `*`: any "
            "key in the serve zone's key ring. A version without a valid signature by one of "
            "them is never loaded."
        ),
    )
    keys_file_env: str = Field(
        env.SERVE_TRUSTED_KEYS_FILE,
        description="Environment variable naming the serve zone's key ring (public keys only).",
    )


class ServeAppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str = Field("sentiment", min_length=1, description="Registered model.")
    alias: str = Field(CHAMPION, min_length=1, description="Alias to serve and follow.")
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="int8 is used only when the bundle ships it; else fp32."
    )
    poll_interval_s: float = Field(
        2.0, gt=0, le=3600, description="How often each replica checks the alias."
    )
    api_key_file_env: str = Field(
        env.SERVE_API_KEY_FILE,
        description="Environment variable naming the file that holds the API key.",
    )
    ort_threads: int = Field(
        2,
        ge=1,
        le=64,
        description=(
            "onnxruntime intra-op threads for a model call that runs alone: an idle replica "
            "spends all of them on one request (lowest latency)."
        ),
    )
    inference_workers: int = Field(
        2,
        ge=1,
        le=64,
        description=(
            "Model calls one replica runs at once. Calls that overlap another use a "
            "single-thread session, so under load the cores serve separate requests in "
            "parallel (more throughput than splitting one small request over threads)."
        ),
    )
    max_bundle_bytes: int = Field(
        2 * 1024**3,
        ge=1024,
        description="A version whose files add up to more is refused before any download.",
    )
    load_timeout_s: float = Field(
        600,
        gt=0,
        le=3600,
        description=(
            "Deadline for one download + verify + self-check + warm-up; past it the attempt "
            "is abandoned (the old model keeps serving) and retried with backoff."
        ),
    )
    retry_backoff_max_s: float = Field(
        60, gt=0, le=3600, description="Longest wait between retries of a failed download."
    )
    start_hold_s: float = Field(
        60,
        ge=0,
        le=600,
        description=(
            "How long a starting replica waits for its first model while the registry cannot "
            "be reached, before it tells Serve it is ready: until then Serve routes nothing "
            "to it and the other replicas keep answering. Past it the replica starts anyway, "
            "out of the ingress's rotation until a model loads. A registry that answers "
            "(no champion yet, a refused version) is never waited for."
        ),
    )
    self_check_tolerance: float = Field(
        1e-3, gt=0, description="Max |logit - golden| accepted by the post-load self-check."
    )
    shadow_max_per_s: float = Field(
        10.0,
        ge=0,
        le=10_000,
        description=(
            "Shadow copies one replica starts per second at most during a rollout (each runs "
            "the candidate and the champion once, only while no real request runs; 0 turns "
            "shadow copies off). Bounds the CPU a rollout may take from real requests."
        ),
    )
    trust: TrustConfig = Field(default_factory=TrustConfig)
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    payload_log: PayloadLogConfig = Field(default_factory=PayloadLogConfig)


class FamilyConfig(BaseModel):
    """A model family's live settings (serving/family.py): the same `user_config` for its
    ingress and its shared model replicas."""

    model_config = ConfigDict(extra="forbid")

    members: list[str] = Field(
        min_length=1,
        description="Registered models this family serves at /v1/family/{model}/predict; "
        "each is loaded on the shared replicas on first use and evicted least recently used.",
    )
    alias: str = Field(CHAMPION, min_length=1, description="Alias each member is served at.")
    poll_interval_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="How often each shared replica checks the alias of every member it holds.",
    )
    precision: Literal["fp32", "int8"] = "fp32"
    ort_threads: int = Field(1, ge=1, le=64, description="onnxruntime threads per model call.")
    api_key_file_env: str = env.SERVE_API_KEY_FILE
    max_bundle_bytes: int = Field(2 * 1024**3, ge=1024)
    load_timeout_s: float = Field(
        120, gt=0, le=3600, description="Deadline for one member's cold load (503 past it)."
    )
    self_check_tolerance: float = Field(1e-3, gt=0)
    trust: TrustConfig = Field(
        default_factory=TrustConfig, description="Who may sign the members' versions."
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    payload_log: PayloadLogConfig = Field(
        default_factory=PayloadLogConfig,
        description="Payload logging of the members' answers into the one-way drop, as for "
        "a model's own application (records carry the member's name).",
    )

    def loading(self, model: str) -> ServeAppConfig:
        """The settings one member is downloaded, verified and loaded with."""
        return ServeAppConfig(
            model_name=model,
            alias=self.alias,
            precision=self.precision,
            ort_threads=self.ort_threads,
            inference_workers=1,
            max_bundle_bytes=self.max_bundle_bytes,
            load_timeout_s=self.load_timeout_s,
            self_check_tolerance=self.self_check_tolerance,
            trust=self.trust,
            limits=self.limits,
        )
