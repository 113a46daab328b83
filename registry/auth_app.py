"""The registry's server app: MLflow basic-auth, plus one rule MLflow does not have.

MLflow lets every authenticated user create experiments and registered models (and then
grants the creator MANAGE on them), whatever ``default_permission`` says. For Bulkhead that
would let the serve zone's read-only ``server`` user, or a stolen copy of its credentials,
create models, register versions in them and upload artifacts to the shared store. Here only
admins (and users named in ``BULKHEAD_REGISTRY_CREATORS``, comma-separated) may create them;
the platform's bootstrap creates the one experiment and model the zones use.

Run it with ``mlflow server --app-name bulkhead-auth`` (an ``mlflow.app`` entry point).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, g, jsonify, make_response, request

CREATE_ROUTES = ("/mlflow/experiments/create", "/mlflow/registered-models/create")
CREATORS_ENV = "BULKHEAD_REGISTRY_CREATORS"


def _creators() -> frozenset[str]:
    return frozenset(
        name.strip() for name in os.environ.get(CREATORS_ENV, "").split(",") if name.strip()
    )


def refuse_creation_by_zone_users() -> Any:
    """Runs after MLflow's own check, so the user is already authenticated (or refused)."""
    if request.method != "POST" or not request.path.endswith(CREATE_ROUTES):
        return None
    from mlflow.server.auth import sender_is_admin

    username = getattr(g, "mlflow_authenticated_user", None)
    admin = bool(sender_is_admin())  # type: ignore[no-untyped-call]  # MLflow is untyped
    if username is None or admin or username in _creators():
        return None
    body = {
        "error_code": "PERMISSION_DENIED",
        "message": f"user {username!r} may not create experiments or registered models "
        "(Bulkhead registry: only admins create them)",
    }
    return make_response(jsonify(body), 403)


def create_app(app: Flask | None = None) -> Any:
    from mlflow.server import app as mlflow_flask_app
    from mlflow.server.auth import create_app as create_basic_auth_app

    flask_app = app if app is not None else mlflow_flask_app
    served = create_basic_auth_app(flask_app)
    # Registered after MLflow's hook, so it sees the authenticated user; before any request.
    flask_app.before_request(refuse_creation_by_zone_users)
    return served
