"""From inside each zone, as that zone's own Unix identity: the attack matrix.

A Ray job on each zone's cluster runs tests/security/zone_attacks.py and tries to read every
other zone's secrets, the operator's (registry admin password, every token, the API key),
the registry's auth config and database; to write into other zones' folders and the artifact
store; to signal other zones' processes; to call other zones' Ray dashboards; and to replace
the champion's files through the registry. Each zone's own secret and own process are the
controls: they must succeed, so a broken probe cannot pass as a wall.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from bulkhead.platform.identity import Role
from bulkhead.platform.jobs import run_job
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import PlatformState
from tests.utils.platform import Served, TestPlatform

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0,
        reason="per-zone Unix identities need `up` as root; without root every zone runs as "
        "the operator and this matrix cannot hold",
    ),
]

ATTACKS = Path(__file__).with_name("zone_attacks.py")
# What a zone may do to itself (controls) and in the one hand-off it takes part in.
ALLOWED = {
    Zone.INGEST: {
        "own ray token",
        "own registry credentials",
        "snapshots",
        "write snapshots",
        "drop records",
        "drop records folder",
    },
    Zone.TRAIN: {"own ray token", "own registry credentials", "snapshots", "train checkpoints"},
    Zone.SERVE: {
        "own ray token",
        "own registry credentials",
        "write serve cache",
        "send to the drop",
    },
}


def _champion_path(platform: TestPlatform) -> str:
    auth = ("server", platform.password("server"))
    base = f"http://127.0.0.1:{platform.registry_port}/api/2.0/mlflow"
    mv = httpx.get(
        f"{base}/registered-models/alias",
        params={"name": "sentiment", "alias": "champion"},
        auth=auth,
    ).json()["model_version"]
    run = httpx.get(f"{base}/runs/get", params={"run_id": mv["run_id"]}, auth=auth).json()
    root = run["run"]["info"]["artifact_uri"].split(":", 1)[1].lstrip("/")
    return f"{root}/bundle/model.onnx"


def _a_drop_record(platform: TestPlatform, served: Served) -> Path:
    """A file the drop keeper wrote (a prediction logged through the serve zone)."""
    import time

    answer = httpx.post(
        f"{served.url}/v1/predict", json={"texts": ["a drop probe"]}, headers=served.headers()
    )
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = sorted(platform.paths.drop_records.rglob("*.jsonl"))
        if found:
            return found[-1]
        time.sleep(0.5)
    raise AssertionError(f"no drop record under {platform.paths.drop_records}")


def _spec(
    platform: TestPlatform, state: PlatformState, zone: Zone, drop_record: Path
) -> dict[str, Any]:
    paths = platform.paths
    read: dict[str, str] = {
        "operator: registry admin credentials": str(paths.registry_credentials("admin")),
        "operator: serve API key": str(paths.serve_api_key),
        "registry: auth config (admin password)": str(paths.auth_config),
        "registry: flask secret": str(paths.flask_secret),
        "registry: database": str(paths.registry_db),
        "own ray token": str(paths.handed_ray_token(zone)),
        "own registry credentials": str(paths.handed_registry_credentials(zone)),
        "snapshots": str(next(paths.snapshots.rglob("manifest.json"))),
        "train checkpoints": str(paths.train_runs),
        # The model-signing key: the signer's alone (root keeps the operator's copies).
        "signer: handed signing key": str(paths.handed_signing_key),
        "signer: handed registry credentials": str(paths.signer_credentials),
        "operator: signing keys": str(paths.signing_keys / "active"),
        # The one-way drop: only the ingest zone reads it; the serve zone cannot read back.
        "drop records": str(drop_record),
        "drop records folder": str(drop_record.parent),
    }
    write: dict[str, str] = {
        "write drop records": str(drop_record.parent),
        "write artifact store": str(paths.artifacts),
        "write snapshots": str(paths.snapshots),
        "write serve cache": str(paths.serve_cache),
        "write operator secrets": str(paths.secrets),
        "write signer folder": str(paths.service_dir(Role.SIGNER)),
    }
    signal: dict[str, int] = {}
    connect: dict[str, tuple[str, int]] = {}
    delete: dict[str, str] = {"delete a drop record": str(drop_record)}
    for other in Zone:
        # Found by review: every zone's Ray temp, session, log and socket folders were 0777
        # (Ray sets them so on every start): another zone could plant, rename or delete
        # files there, the raylet's and plasma store's sockets included.
        ray_temp = paths.ray_temp_dir(other)
        session = ray_temp / "session_latest"
        if other is zone:
            signal["own ray head"] = state.zones[other].process.pid
            write["own ray logs"] = str(session / "logs")  # the control: Ray works inside
            continue
        write[f"write {other.value} ray temp folder"] = str(ray_temp)
        write[f"write {other.value} ray session logs"] = str(session / "logs")
        write[f"write {other.value} ray sockets"] = str(session / "sockets")
        delete[f"delete {other.value} ray_current_cluster"] = str(ray_temp / "ray_current_cluster")
        delete[f"delete {other.value} raylet socket"] = str(session / "sockets" / "raylet")
        read[f"{other.value}: handed ray token"] = str(paths.handed_ray_token(other))
        read[f"{other.value}: handed registry credentials"] = str(
            paths.handed_registry_credentials(other)
        )
        read[f"operator: {other.value} ray token"] = str(paths.ray_token(other))
        write[f"write {other.value} zone folder"] = str(paths.service_dir(Role(other.value)))
        signal[f"{other.value} ray head"] = state.zones[other].process.pid
        host, port = state.zones[other].gcs_address.rsplit(":", 1)
        connect[f"{other.value} GCS"] = (host, int(port))
    if zone is not Zone.SERVE:
        read["serve: handed API key"] = str(paths.handed_api_key)
    assert state.registry is not None
    signal["registry"] = state.registry.process.pid
    return {
        "read": read,
        "write": write,
        # Only the serve zone may hand records to the drop keeper; nobody may delete one.
        "send": {"send to the drop": str(paths.drop_socket)},
        "delete": delete,
        "signal": signal,
        "connect": connect,
        "registry_put": [f"http://127.0.0.1:{platform.registry_port}", _champion_path(platform)],
    }


REFUSED = {
    "read": "refused",
    "write": "refused",
    "signal": "refused",
    "registry": "403",
    "send": "refused",
    "delete": "refused",
}
SUCCEEDED = {
    "read": {"read", "listed"},
    "write": {"written"},
    "signal": {"may signal"},
    "send": {"sent"},
    "delete": {"deleted"},
}


@pytest.mark.parametrize("zone", list(Zone))
def test_a_zone_identity_reaches_nothing_of_another_zones(
    platform: TestPlatform, served: Served, zone: Zone
) -> None:
    state = PlatformState.load(platform.paths.state_file)
    assert state.identities is not None
    spec = _spec(platform, state, zone, _a_drop_record(platform, served))
    encoded = base64.b64encode(json.dumps(spec).encode()).decode()
    outcome = run_job(
        state.zones[zone],
        f"{sys.executable} {ATTACKS} {encoded}",
        on_line=lambda line: None,
        timeout_s=180,
        submission_prefix=f"attack-{zone.value}",
    )
    assert outcome.result is not None, outcome.log_tail
    assert outcome.result["uid"] == state.identities.of(Role(zone.value)).uid
    print(f"\nfrom the {zone.value} zone, as uid {outcome.result['uid']}:")
    wrong = []
    for row in outcome.result["results"]:
        kind, target, got = row["kind"], row["target"], row["outcome"]
        if kind == "connect":
            expected = "(network: only `--isolate` cuts it)"
            ok = True
        elif target in ALLOWED[zone] or target.startswith("own "):
            expected = "allowed"
            ok = got in SUCCEEDED[kind]
        else:
            expected = REFUSED[kind]
            ok = got == expected
        print(f"  {kind:>8} {target:<45} {got:<12} {'ok' if ok else 'WRONG'} {expected}")
        if not ok:
            wrong.append(row)
    assert not wrong, wrong
