"""What every locustfile here shares: request texts, the API key header, the load shape.

Importing it reads the texts and the key: only locustfiles import it.
"""

from __future__ import annotations

import os
from pathlib import Path

from locust import LoadTestShape

from loadtests.envnames import API_KEY_FILE_ENV, DEFAULT_API_KEY_FILE, MODEL_NAME_ENV, PROFILE_ENV
from loadtests.profiles import LoadProfile, get_profile
from loadtests.texts import load_texts

# Loaded when a locustfile imports this module (in the Locust process), never by the CLI.


def auth_headers() -> dict[str, str]:
    key_file = Path(os.environ.get(API_KEY_FILE_ENV, DEFAULT_API_KEY_FILE))
    try:
        key = key_file.read_text().strip()
    except OSError as err:
        raise RuntimeError(
            f"cannot read the API key from {key_file} ({err.strerror}); "
            f"set {API_KEY_FILE_ENV} to the serve zone's key file"
        ) from None
    return {"Authorization": f"Bearer {key}"}


TEXTS: list[str] = load_texts()
MODEL_NAME = os.environ.get(MODEL_NAME_ENV, "sentiment")


class ProfileShape(LoadTestShape):
    """Follows the stages of the profile named by ``BULKHEAD_PROFILE``, then stops the run."""

    abstract = False
    _profile: LoadProfile | None = None

    @property
    def profile(self) -> LoadProfile:
        if self._profile is None:
            self._profile = get_profile(os.environ.get(PROFILE_ENV, "latency"))
        return self._profile

    def tick(self) -> tuple[int, float] | None:
        stage = self.profile.stage_at(self.get_run_time())  # type: ignore[no-untyped-call]
        return None if stage is None else (stage.users, stage.spawn_rate)
