"""What every locustfile here shares: request texts, the API key header, the load shape.

Importing it reads the texts and the key: only locustfiles import it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from locust import LoadTestShape

from contracts import env
from contracts.serve_api import bearer
from loadtests.profiles import LoadProfile, get_profile
from loadtests.texts import load_texts

DEFAULT_API_KEY_FILE = ".bulkhead/secrets/serve-api-key"

# Loaded when a locustfile imports this module (in the Locust process), never by the CLI.


def auth_headers() -> dict[str, str]:
    key_file = Path(os.environ.get(env.SERVE_API_KEY_FILE, DEFAULT_API_KEY_FILE))
    try:
        key = key_file.read_text().strip()
    except OSError as err:
        raise RuntimeError(
            f"cannot read the API key from {key_file} ({err.strerror}); "
            f"set {env.SERVE_API_KEY_FILE} to the serve zone's key file"
        ) from None
    return bearer(key)


def verified_ssl_context() -> Any:
    """HTTPS clients verify the serve endpoint: against the platform CA under `up --tls`
    (``BULKHEAD_SERVE_CA_FILE``), else the system CAs. Locust's default skips verification."""
    import gevent.ssl

    return gevent.ssl.create_default_context(cafile=os.environ.get(env.SERVE_CA_FILE) or None)


TEXTS: list[str] = load_texts()
MODEL_NAME = os.environ.get(env.MODEL_NAME, "sentiment")


class ProfileShape(LoadTestShape):
    """Follows the stages of the profile named by ``BULKHEAD_PROFILE``, then stops the run."""

    abstract = False
    _profile: LoadProfile | None = None

    @property
    def profile(self) -> LoadProfile:
        if self._profile is None:
            self._profile = get_profile(os.environ.get(env.LOAD_PROFILE, "latency"))
        return self._profile

    def tick(self) -> tuple[int, float] | None:
        stage = self.profile.stage_at(self.get_run_time())  # type: ignore[no-untyped-call]
        return None if stage is None else (stage.users, stage.spawn_rate)
