"""The registry zone's contract: who may touch the MLflow registry, and how.

Importing this package needs only pydantic and httpx; the MLflow client is imported lazily
by the modules that talk to it, so the serve zone can depend on ``mlflow-skinny`` alone.
"""

from registry.credentials import CREDENTIALS_ENV, RegistryCredentials

__all__ = ["CREDENTIALS_ENV", "RegistryCredentials"]
