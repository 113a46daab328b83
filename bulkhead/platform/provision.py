"""The operator's secrets: made once by `up`, kept across runs (secrets/, mode 0600).

The registry's admin password and one registry user per zone, one Ray token per zone, the
Flask secret, the serve API key and its header file, the request-id key.
"""

from __future__ import annotations

import secrets as pysecrets

from bulkhead.platform import signing_keys, tls
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.secrets import ensure_secret_dir, ensure_token, write_secret
from bulkhead.platform.settings import PlatformSettings, Zone
from registry.admin import ZONE_USERS, RegistryAdmin
from registry.credentials import RegistryCredentials

ADMIN_USER = "admin"


class SecretsError(RuntimeError):
    """The secrets on disk and the settings disagree; the message says how to fix it."""


def credentials(paths: StatePaths, user: str) -> RegistryCredentials:
    return RegistryCredentials.from_file(paths.registry_credentials(user))


def admin_client(paths: StatePaths) -> RegistryAdmin:
    admin = credentials(paths, ADMIN_USER)
    return RegistryAdmin(
        admin.tracking_uri,
        admin.username,
        admin.password.get_secret_value(),
        verify=admin.verify,
    )


def ensure_secrets(settings: PlatformSettings, paths: StatePaths) -> None:
    ensure_secret_dir(paths.secrets)
    ensure_token(paths.flask_secret)
    api_key = ensure_token(paths.serve_api_key)
    ensure_token(paths.request_id_key)
    signing_keys.ensure(paths)
    write_secret(paths.serve_auth_header, f"Authorization: Bearer {api_key}\n")
    for zone in Zone:
        ensure_token(paths.ray_token(zone))
    url = settings.registry_url
    ca_file = tls.files(paths).ca_cert if settings.tls else None
    admin_file = paths.registry_credentials(ADMIN_USER)
    given = settings.admin_password
    if admin_file.exists():
        stored = credentials(paths, ADMIN_USER)
        if given is not None and given.get_secret_value() != stored.password.get_secret_value():
            raise SecretsError(
                "BULKHEAD_ADMIN_PASSWORD differs from the admin password this platform "
                f"was created with ({admin_file}); unset it or rotate it in the registry"
            )
    password = given.get_secret_value() if given is not None else pysecrets.token_urlsafe(24)
    for user in [ADMIN_USER, *(zone_user.username for zone_user in ZONE_USERS)]:
        file = paths.registry_credentials(user)
        if file.exists():
            current = credentials(paths, user)
            if current.tracking_uri == url and current.ca_file == ca_file:
                continue
            secret = current.password.get_secret_value()
        else:
            secret = password if user == ADMIN_USER else pysecrets.token_urlsafe(24)
        creds = RegistryCredentials.model_validate(
            {"tracking_uri": url, "username": user, "password": secret, "ca_file": ca_file}
        )
        write_secret(file, creds.to_json())
