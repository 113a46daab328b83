"""Registry bootstrap as the admin: experiment, registered model, zone users, permissions.

With ``default_permission = NO_PERMISSIONS`` a user sees nothing it was not granted, so
each zone user gets exactly the grants its zone needs and nothing more.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from contracts.tags import SIGNER_USER


class Permission(StrEnum):
    READ = "READ"
    EDIT = "EDIT"
    MANAGE = "MANAGE"
    NO_PERMISSIONS = "NO_PERMISSIONS"


class ZoneUser(BaseModel):
    """A registry user and what it may do to each experiment and the model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str
    ingest_experiment: Permission = Field(description="On the ingest zone's dataset runs.")
    train_experiment: Permission = Field(description="On the training runs (the bundles).")
    model: Permission = Field(description="Permission on the registered model.")


# Least privilege per zone: ingest logs dataset runs in its own experiment, train registers
# and aliases versions from runs in another, serve only reads the approved bundle. MLflow lets
# experiment EDIT write any run's artefacts in that experiment, so a shared experiment would let
# the ingest zone replace a champion's files: each writer zone gets an experiment of its own.
ZONE_USERS: tuple[ZoneUser, ...] = (
    ZoneUser(
        username="ingest",
        ingest_experiment=Permission.EDIT,
        train_experiment=Permission.NO_PERMISSIONS,
        model=Permission.NO_PERMISSIONS,
    ),
    ZoneUser(
        username="trainer",
        ingest_experiment=Permission.NO_PERMISSIONS,
        train_experiment=Permission.EDIT,
        model=Permission.EDIT,
    ),
    ZoneUser(
        username="server",
        ingest_experiment=Permission.NO_PERMISSIONS,
        train_experiment=Permission.READ,
        model=Permission.READ,
    ),
    # The signer reads bundles and writes its verdict on a version. MLflow asks EDIT on the
    # model for a version tag, which would also move aliases: registry/auth_app.py narrows
    # this user to the signature tags alone.
    ZoneUser(
        username=SIGNER_USER,
        ingest_experiment=Permission.NO_PERMISSIONS,
        train_experiment=Permission.READ,
        model=Permission.EDIT,
    ),
)


class RegistryError(RuntimeError):
    """The registry refused or failed a request; the message carries its answer."""


class RegistryAdmin:
    """Thin REST client for the admin-only parts of MLflow's tracking and auth APIs."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        timeout_s: float = 15.0,
        verify: str | bool = True,
    ) -> None:
        self._http = httpx.Client(
            base_url=url, auth=(username, password), timeout=timeout_s, verify=verify
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryAdmin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400 and response.status_code != 404:
            raise RegistryError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return response

    def ensure_experiment(self, name: str) -> str:
        got = self._call(
            "GET", "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}
        )
        if got.status_code == 200:
            experiment_id: str = got.json()["experiment"]["experiment_id"]
            return experiment_id
        created = self._call("POST", "/api/2.0/mlflow/experiments/create", json={"name": name})
        new_id: str = created.json()["experiment_id"]
        return new_id

    def ensure_registered_model(self, name: str) -> None:
        got = self._call("GET", "/api/2.0/mlflow/registered-models/get", params={"name": name})
        if got.status_code == 200:
            return
        self._call("POST", "/api/2.0/mlflow/registered-models/create", json={"name": name})

    def user_exists(self, username: str) -> bool:
        got = self._call("GET", "/api/2.0/mlflow/users/get", params={"username": username})
        return got.status_code == 200

    def create_or_reset_user(self, username: str, password: str) -> None:
        if self.user_exists(username):
            self._call(
                "PATCH",
                "/api/2.0/mlflow/users/update-password",
                json={"username": username, "password": password},
            )
        else:
            self._call(
                "POST",
                "/api/2.0/mlflow/users/create",
                json={"username": username, "password": password},
            )

    def permission(self, username: str, resource_type: str, resource_id: str) -> Permission:
        got = self._call(
            "GET",
            "/api/3.0/mlflow/users/permissions/get",
            params={
                "username": username,
                "resource_type": resource_type,
                "resource_id": resource_id,
            },
        )
        if got.status_code == 404:
            return Permission.NO_PERMISSIONS
        return Permission(got.json()["permission"])

    def grant(
        self, username: str, resource_type: str, resource_id: str, permission: Permission
    ) -> None:
        """Make ``permission`` the user's grant on the resource (MLflow has no update call);
        NO_PERMISSIONS revokes whatever an earlier layout granted."""
        current = self.permission(username, resource_type, resource_id)
        if current is permission:
            return
        body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        if current is not Permission.NO_PERMISSIONS:
            self._call("POST", "/api/3.0/mlflow/users/permissions/revoke", json=body)
        if permission is Permission.NO_PERMISSIONS:
            return
        self._call(
            "POST",
            "/api/3.0/mlflow/users/permissions/grant",
            json={**body, "permission": permission.value},
        )

    def alias_version(self, model_name: str, alias: str) -> str | None:
        """The version an alias points at, or ``None`` when the alias is not set."""
        got = self._http.get(
            "/api/2.0/mlflow/registered-models/alias",
            params={"name": model_name, "alias": alias},
        )
        # MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE, not 404.
        if got.status_code == 404 or (got.status_code == 400 and "not found" in got.text):
            return None
        if got.status_code >= 400:
            raise RegistryError(f"alias lookup -> {got.status_code}: {got.text[:300]}")
        version: str = got.json()["model_version"]["version"]
        return version


def bootstrap(
    admin: RegistryAdmin,
    experiment_name: str,
    ingest_experiment_name: str,
    model_names: list[str],
    passwords: dict[str, str],
) -> str:
    """Create both experiments, every configured model and every zone user with exactly its
    grants on each of them (revoking any an earlier layout gave); a model the platform is
    not configured for gets no grant at all. Idempotent. Returns the training experiment id."""
    train_id = admin.ensure_experiment(experiment_name)
    ingest_id = admin.ensure_experiment(ingest_experiment_name)
    for model_name in model_names:
        admin.ensure_registered_model(model_name)
    for user in ZONE_USERS:
        admin.create_or_reset_user(user.username, passwords[user.username])
        admin.grant(user.username, "experiment", train_id, user.train_experiment)
        admin.grant(user.username, "experiment", ingest_id, user.ingest_experiment)
        for model_name in model_names:
            admin.grant(user.username, "registered_model", model_name, user.model)
    return train_id
