"""``bulkhead keys add|list|revoke``: per-client API keys, each scoped to the models it may
call. The operator's file holds digests only; every change is handed to the serve zone at
once, and replicas pick it up within a second (no restart, no redeploy)."""

from __future__ import annotations

import secrets
import time

from pydantic import BaseModel, ConfigDict

from bulkhead.operations.errors import BadInput
from bulkhead.platform.core import Platform
from bulkhead.platform.handover import hand_client_keys
from bulkhead.platform.secrets import read_secret, write_secret
from contracts.client_keys import ALL_MODELS, ClientKey, ClientKeys, key_digest


class IssuedKey(BaseModel):
    """What `keys add` prints once: the key itself is never stored or shown again."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    models: list[str]
    key: str
    header: str


def load(platform: Platform) -> ClientKeys:
    path = platform.paths.client_keys
    if not path.exists():
        return ClientKeys()
    return ClientKeys.model_validate_json(read_secret(path))


def _save(platform: Platform, keys: ClientKeys) -> None:
    write_secret(platform.paths.client_keys, keys.model_dump_json(indent=2))
    state = platform.load_state()
    hand_client_keys(platform.paths, state.identities)


def add(platform: Platform, name: str, models: list[str]) -> IssuedKey:
    configured = set(platform.settings.models)
    unknown = [m for m in models if m != ALL_MODELS and m not in configured]
    if not models or unknown:
        raise BadInput(
            f"keys add: {'no --model given' if not models else f'unknown model(s) {unknown}'}; "
            f"configured: {', '.join(sorted(configured))} (or {ALL_MODELS!r} for every model)"
        )
    keys = load(platform)
    if any(key.name == name for key in keys.keys):
        raise BadInput(f"keys add: a key named {name!r} exists; revoke it first or pick another")
    secret = secrets.token_urlsafe(32)
    try:
        issued = ClientKey(
            id=f"k-{secrets.token_hex(6)}",
            name=name,
            sha256=key_digest(secret),
            models=tuple(sorted(set(models))),
            created_at=time.time(),
        )
    except ValueError as err:
        raise BadInput(f"keys add: {err}") from err
    keys.keys.append(issued)
    _save(platform, keys)
    return IssuedKey(
        id=issued.id,
        name=name,
        models=list(issued.models),
        key=secret,
        header=f"Authorization: Bearer {secret}",
    )


def revoke(platform: Platform, key_id: str) -> ClientKey:
    keys = load(platform)
    found = next((key for key in keys.keys if key.id == key_id or key.name == key_id), None)
    if found is None:
        raise BadInput(f"keys revoke: no key {key_id!r} (bulkhead keys list)")
    keys.keys = [key for key in keys.keys if key is not found]
    _save(platform, keys)
    return found
