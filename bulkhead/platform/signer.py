"""Start the model signer (signer/service.py) as its own identity.

It holds the one copy of the signing key outside root's secrets and reads snapshots (the
snapshot group, as train does) to measure each version again. Under ``--isolate`` it runs in
the host's namespace, as the drop keeper does: it needs the registry and nothing else, and
listens on no port.
"""

from __future__ import annotations

import json

from bulkhead.platform.identity import SERVICE_UMASK, Identities, Role
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.procs import ProcessRecord, spawn, wait_until
from bulkhead.platform.service import Context, Service
from bulkhead.platform.services import clean_env, venv_bin
from bulkhead.platform.settings import PlatformSettings
from bulkhead.platform.state import SIGNER
from contracts import env as names

STARTUP_TIMEOUT_S = 30.0


def command(paths: StatePaths, identities: Identities | None, policy: str) -> list[str]:
    drop = identities.of(Role.SIGNER).drop_prefix() if identities is not None else []
    return [
        *drop,
        str(venv_bin() / "python"),
        "-m",
        "signer.service",
        "--snapshots",
        str(paths.snapshots),
        "--key",
        str(paths.handed_signing_key),
        "--trusted",
        str(paths.handed_trusted_keys(Role.SIGNER)),
        "--policy",
        policy,
    ]


def start(settings: PlatformSettings, paths: StatePaths, ctx: Context) -> ProcessRecord:
    home = paths.service_home(Role.SIGNER)
    environment = clean_env(home=home)
    environment[names.REGISTRY_CREDENTIALS] = str(paths.signer_credentials)
    environment["TMPDIR"] = str(home)  # its downloads stay in its own folder
    environment["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # one line per verdict
    policy = json.dumps(settings.signer.model_dump())
    log = paths.log_file("signer")
    written_before = log.stat().st_size if log.exists() else 0  # the log is appended to
    record = spawn(
        command(paths, ctx.state.identities, policy),
        environment,
        log,
        cwd=home,
        umask=SERVICE_UMASK,
    )

    def ready() -> bool:
        with open(log, "rb") as handle:
            handle.seek(written_before)
            return b"signing gate-passed versions" in handle.read()

    wait_until(
        ready,
        record,
        "the model signer",
        STARTUP_TIMEOUT_S,
        0.2,
    )
    return record


class SignerService(Service):
    """The model signer: a verdict (signature or refusal) on every version that passed the
    train gate, measured again on the snapshot (signer/)."""

    name = "model signer"
    key = SIGNER

    def title(self, ctx: Context) -> str:
        who = "bulkhead-signer" if ctx.state.identities is not None else "the operator"
        return f"model signer ({who})"

    def start(self, ctx: Context) -> None:
        self.keep(ctx, start(ctx.settings, ctx.paths, ctx))
