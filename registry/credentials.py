"""Registry credentials of one zone's user, kept in an owner-only JSON file.

Each zone's Ray cluster is started with the path of its own credentials file in
``BULKHEAD_REGISTRY_CREDENTIALS`` and no other registry secret, so code running on the serve
cluster can only ever act as the read-only ``server`` user.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from contracts import env

CREDENTIALS_ENV = env.REGISTRY_CREDENTIALS


class RegistryCredentials(BaseModel):
    """A registry user and where the registry is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str = Field(description="MLflow tracking server URL.")
    username: str = Field(min_length=1, description="Registry user name.")
    password: SecretStr = Field(description="Registry user password (never logged).")
    ca_file: Path | None = Field(
        None, description="CA bundle that signs the registry's HTTPS certificate (`up --tls`)."
    )

    @classmethod
    def from_file(cls, path: Path) -> RegistryCredentials:
        mode = path.stat().st_mode & 0o777
        # Group read is allowed: Kubernetes mounts secrets 0440 for a pod's fsGroup.
        if mode & 0o037:
            raise PermissionError(
                f"{path} has mode {oct(mode)}; credentials must be 0600 (or 0440 from a "
                "Kubernetes secret volume)"
            )
        return cls.model_validate(json.loads(path.read_text()))

    @classmethod
    def from_environment(cls) -> RegistryCredentials | None:
        """The credentials the zone was started with, or ``None`` outside a zone."""
        location = os.environ.get(CREDENTIALS_ENV)
        return cls.from_file(Path(location)) if location else None

    def to_json(self) -> str:
        data = self.model_dump()
        data["password"] = self.password.get_secret_value()
        data["ca_file"] = str(self.ca_file) if self.ca_file else None
        return json.dumps(data)

    def client_env(self) -> dict[str, str]:
        """Environment variables the MLflow client reads for its URL and basic auth."""
        env = {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_TRACKING_USERNAME": self.username,
            "MLFLOW_TRACKING_PASSWORD": self.password.get_secret_value(),
        }
        if self.ca_file is not None:
            # The MLflow client verifies the registry's certificate against this CA only.
            env["MLFLOW_TRACKING_SERVER_CERT_PATH"] = str(self.ca_file)
        return env

    @property
    def verify(self) -> str | bool:
        """What an HTTP client passes as ``verify``: the platform CA, or the system store."""
        return str(self.ca_file) if self.ca_file is not None else True

    def activate(self) -> None:
        """Point this process's MLflow client at the registry as this user.

        Only called in a process that belongs to one zone (a job driver, a replica), where the
        process-wide MLflow configuration is exactly what is wanted.
        """
        os.environ.update(self.client_env())
