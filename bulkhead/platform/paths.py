"""The layout of the platform's state folder. Computing a path never creates anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bulkhead.platform.identity import Role
from bulkhead.platform.settings import Zone


@dataclass(frozen=True)
class StatePaths:
    """Every file and folder under the platform home (``.bulkhead/`` by default)."""

    home: Path

    @classmethod
    def at(cls, home: Path) -> StatePaths:
        return cls(home=home.expanduser().resolve())

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def registry_dir(self) -> Path:
        return self.home / "registry"

    @property
    def registry_db(self) -> Path:
        return self.registry_dir / "mlflow.db"

    @property
    def auth_db(self) -> Path:
        return self.registry_dir / "auth.db"

    @property
    def artifacts(self) -> Path:
        return self.registry_dir / "artifacts"

    @property
    def auth_config(self) -> Path:
        """MLflow's auth config (it holds the admin password): the registry's alone."""
        return self.service_secrets(Role.REGISTRY) / "mlflow-auth.ini"

    @property
    def flask_secret(self) -> Path:
        return self.service_secrets(Role.REGISTRY) / "flask-secret"

    # Each service's own folder (owned by its identity, 0700): the secrets it was handed,
    # its HOME, and for ingest the inbox the operator drops source files into.

    @property
    def zones(self) -> Path:
        return self.home / "zones"

    def service_dir(self, role: Role) -> Path:
        return self.zones / role.value

    def service_secrets(self, role: Role) -> Path:
        return self.service_dir(role) / "secrets"

    def service_home(self, role: Role) -> Path:
        return self.service_dir(role) / "home"

    def handed_ray_token(self, zone: Zone) -> Path:
        return self.service_secrets(Role(zone.value)) / "ray.token"

    def handed_registry_credentials(self, zone: Zone) -> Path:
        return self.service_secrets(Role(zone.value)) / "registry.json"

    @property
    def handed_api_key(self) -> Path:
        return self.service_secrets(Role.SERVE) / "api-key"

    @property
    def handed_client_keys(self) -> Path:
        return self.service_secrets(Role.SERVE) / "client-keys.json"

    def handed_tls(self, role: Role) -> Path:
        return self.service_secrets(role) / "tls"

    @property
    def ingest_inbox(self) -> Path:
        """Source files handed to the ingest zone (it reads nothing of the operator's)."""
        return self.service_dir(Role.INGEST) / "inbox"

    # The payload and feedback drop (contracts/drop.py): the keeper's socket folder, which the
    # serve zone may pass, and the records, which the ingest zone may read.
    @property
    def drop(self) -> Path:
        return self.home / "drop"

    @property
    def drop_inbox(self) -> Path:
        """Under /tmp when the home is deep: a Unix socket's path holds at most 107 bytes."""
        candidate = self.drop / "inbox"
        if len(str(candidate)) <= 90:
            return candidate
        return self._short_root() / "drop-inbox"

    @property
    def drop_socket(self) -> Path:
        return self.drop_inbox / "drop.sock"

    @property
    def drop_records(self) -> Path:
        return self.drop / "records"

    @property
    def drop_stats(self) -> Path:
        return self.service_home(Role.DROP) / "keeper-stats.json"

    @property
    def request_id_key(self) -> Path:
        """The serve zone's key for request ids (contracts/request_ids.py)."""
        return self.secrets / "request-id-key"

    @property
    def handed_request_id_key(self) -> Path:
        return self.service_secrets(Role.SERVE) / "request-id-key"

    @property
    def signing_keys(self) -> Path:
        """The operator's signing keys (root's, 0700): ``<key id>.pem`` each, and ``active``
        naming the one the signer signs with (contracts/signatures.py)."""
        return self.secrets / "signing"

    @property
    def handed_signing_key(self) -> Path:
        """The signer's copy of the active key: no other identity can read it."""
        return self.service_secrets(Role.SIGNER) / "signing-key.pem"

    def handed_trusted_keys(self, role: Role) -> Path:
        """A copy of the key ring (public keys only): the serve zone verifies with it, the
        signer re-signs what a key it is told to trust signed (a rotation)."""
        return self.service_secrets(role) / "trusted-keys.json"

    @property
    def signer_credentials(self) -> Path:
        return self.service_secrets(Role.SIGNER) / "registry.json"

    @property
    def drop_request_id_key(self) -> Path:
        """The drop keeper's copy: it keeps only rows whose id the serve zone minted."""
        return self.service_secrets(Role.DROP) / "request-id-key"

    @property
    def train_runs(self) -> Path:
        """Ray Train's checkpoints: the train zone's alone."""
        return self.home / "train-runs"

    @property
    def serve_api_key(self) -> Path:
        return self.secrets / "serve-api-key"

    @property
    def client_keys(self) -> Path:
        """Per-client keys (digests and scopes), `bulkhead keys`; the serve zone gets a copy."""
        return self.secrets / "client-keys.json"

    @property
    def serve_auth_header(self) -> Path:
        """``Authorization: Bearer <key>`` for ``curl -H @file``: the key stays off command
        lines (which every local user can read in ``ps``)."""
        return self.secrets / "serve-auth.header"

    @property
    def snapshots(self) -> Path:
        return self.home / "data" / "snapshots"

    @property
    def serve_cache(self) -> Path:
        """Bundles the serve zone's replicas download (one folder per replica)."""
        return self.home / "serve-cache"

    @property
    def jobs(self) -> Path:
        return self.home / "jobs"

    def registry_credentials(self, user: str) -> Path:
        return self.secrets / f"registry-{user}.json"

    def ray_token(self, zone: Zone) -> Path:
        return self.secrets / f"ray-{zone.value}.token"

    def ray_temp_dir(self, zone: Zone) -> Path:
        # Ray puts Unix sockets under here; AF_UNIX paths are limited to 107 bytes, so a
        # deep project folder gets a short path under /tmp keyed by the home's location.
        candidate = self.home / "ray" / zone.value
        if len(str(candidate)) <= 40:
            return candidate
        return self._short_root() / zone.value

    @property
    def haproxy_dir(self) -> Path:
        """The serve zone's HAProxy config, admin socket and state files.

        Always under /tmp: Ray adds a 56-character folder per Serve instance below it, and
        HAProxy refuses an admin socket path longer than 97 bytes.
        """
        return self._short_root() / "hx"

    @property
    def short_root(self) -> Path:
        """The platform's folder under /tmp (root's, 0711: made by `up`, refused when another
        user made it first)."""
        return self._short_root()

    @property
    def serve_etc(self) -> Path:
        """Files the serve zone only reads or runs (its HAProxy wrappers, the 408 and 504 answers,
        the front balancer's and TLS terminator's configs): root's folder, group serve, 0750,
        so no planted link in a serve-owned folder can redirect root's writes."""
        return self._short_root() / "etc-serve"

    def _short_root(self) -> Path:
        import hashlib

        key = hashlib.sha256(str(self.home).encode()).hexdigest()[:10]
        return Path("/tmp") / f"bulkhead-{key}"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"
