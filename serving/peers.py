"""OIP v2 for every model: `/v2/models/{name}/...` reaches the default model's application
(Serve gives each application one route prefix, and each model's own is /v1/models/{name}),
which hands a call for another model to that model's application through a Serve handle.

The receiving application answers with the same checks as its own routes (limits, model,
rollout traffic split); its refusals come back as a status and a detail, never a traceback.
By convention an application is named after its model (a unit test keeps serve_config.yaml so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from serving.errors import PeerRefused, ServingError, status_of
from serving.predictor import Prediction

PeerOp = Literal["infer", "metadata"]


@dataclass(frozen=True)
class PeerAnswer:
    """What another model's application answers a handed-over call."""

    status: int
    detail: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    version: str = ""
    labels: list[str] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)

    @classmethod
    def refused(cls, error: ServingError) -> PeerAnswer:
        return cls(status=status_of(error), detail=error.detail, headers=dict(error.headers))

    def error(self) -> PeerRefused:
        return PeerRefused(self.detail, self.status, self.headers)


# (model, op, texts, client key id, version or None, request id or None) -> the answer of the
# application serving that model, which logs the call under its own payload-log policy.
Peer = Callable[[str, PeerOp, list[str], str | None, str | None, str | None], Awaitable[PeerAnswer]]
# One model's endpoint, local or handed over (ServingCore.endpoint): the same call minus the
# model's name.
Endpoint = Callable[[PeerOp, list[str], str | None, str | None, str | None], Awaitable[PeerAnswer]]
