"""What every serving deployment does when a replica starts or reconfigures, shared by the
model applications (serving/app.py) and the model family (serving/family.py): where it reads
the registry, where it keeps downloaded bundles, and its guards from its live settings."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from contracts import env
from serving.config import LimitsConfig
from serving.http.auth import ClientKeyFile, load_api_key
from serving.http.middleware import Guards
from serving.lifecycle import VersionSource

log = logging.getLogger("ray.serve")


def registry_source() -> VersionSource:
    """The registry as the serve zone's read-only user, failing fast when unreachable."""
    from registry.credentials import RegistryCredentials
    from registry.reader import RegistryReader

    credentials = RegistryCredentials.from_environment()
    if credentials is None:
        raise RuntimeError("the serve zone has no registry credentials")
    credentials.activate()
    # MLflow's client retries for minutes by default; a replica should notice an
    # unreachable registry within seconds and keep serving what it has.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    return RegistryReader()


def replica_cache() -> Path:
    """Downloaded bundles: under the zone's cache folder (removed by `bulkhead down`, so a
    killed replica leaks nothing for long), one folder per replica."""
    cache_root = os.environ.get(env.SERVE_CACHE_DIR)
    if cache_root:
        Path(cache_root).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="replica-", dir=cache_root or None))


def configure_guards(guards: Guards, limits: LimitsConfig, key_env: str, model: str) -> None:
    """A replica's guards from its live settings: limits, the platform key (from the file
    ``$key_env`` names), the client keys file, and the model a client key must be scoped to
    ("" for a family ingress: the member its path names)."""
    guards.max_body_bytes = limits.max_body_bytes
    guards.body_timeout_s = limits.body_timeout_s
    guards.max_in_flight = limits.max_in_flight
    guards.api_key.value = load_api_key(os.environ.get(key_env))
    guards.api_key.clients = ClientKeyFile(os.environ.get(env.SERVE_CLIENT_KEYS_FILE))
    guards.model = model
    if guards.api_key.value is None:
        log.error(
            "no usable API key (file in $%s missing, unreadable or too short): every request "
            "is refused",
            key_env,
        )
