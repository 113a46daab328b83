"""Per-client API keys with model scopes: what `bulkhead keys` writes and replicas read.

Only SHA-256 digests are stored: a key is 256 random bits, so a fast hash is as safe as a
slow one (there is nothing to guess), and a replica checks a request in a microsecond.
The platform's own key (``serve-api-key``) stays valid for every model: it is the operator's.
"""

from __future__ import annotations

import hashlib
import re
import time

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALL_MODELS = "*"
KEY_ID = re.compile(r"^k-[0-9a-f]{12}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ClientKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Public handle (`k-` + 12 hex): what `list` and `revoke` use.")
    name: str = Field(description="Who holds it (a client, a team).")
    sha256: str = Field(min_length=64, max_length=64)
    models: tuple[str, ...] = Field(
        min_length=1, description=f"Models it may call; `{ALL_MODELS}` = every model."
    )
    created_at: float = Field(default_factory=time.time)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not KEY_ID.match(value):
            raise ValueError(f"key id {value!r} is not k- and 12 hex digits")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"key name {value!r}: letters, digits, _.- (at most 64)")
        return value

    def allows(self, model: str) -> bool:
        return ALL_MODELS in self.models or model in self.models


class ClientKeys(BaseModel):
    """The whole file: every live key (a revoked key is removed)."""

    model_config = ConfigDict(extra="forbid")

    keys: list[ClientKey] = Field(default_factory=list)

    def by_digest(self) -> dict[str, ClientKey]:
        return {key.sha256: key for key in self.keys}
