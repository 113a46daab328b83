"""Run inside a zone, as that zone's identity (a Ray job on the zone's cluster): try what a
compromised process there would try, and report every outcome as one result line.

Submitted by tests/security/test_zone_identities.py; stands alone (standard library and
httpx only), so nothing of the platform's own code decides the outcome.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from pathlib import Path

RESULT_PREFIX = "BULKHEAD_RESULT "


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        return "read"
    except PermissionError:
        return "refused"
    except FileNotFoundError:
        return "missing"
    except IsADirectoryError:
        try:
            os.listdir(path)
            return "listed"
        except PermissionError:
            return "refused"


def _write(folder: str) -> str:
    probe = Path(folder) / f".attack-probe-{os.getpid()}"
    try:
        probe.write_text("x")
    except PermissionError:
        return "refused"
    except FileNotFoundError:
        return "missing"
    probe.unlink()
    return "written"


def _send(path: str) -> str:
    """One datagram to a Unix socket (the drop keeper's): may this identity reach it?"""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(path)
            sock.send(b'{"kind": "probe"}\n')
        return "sent"
    except PermissionError:
        return "refused"
    except (FileNotFoundError, ConnectionRefusedError):
        return "missing"


def _delete(path: str) -> str:
    try:
        os.unlink(path)
        return "deleted"
    except PermissionError:
        return "refused"
    except FileNotFoundError:
        return "missing"


def _signal(pid: int) -> str:
    try:
        os.kill(pid, 0)  # signal 0: the permission check without the signal
        return "may signal"
    except PermissionError:
        return "refused"
    except ProcessLookupError:
        return "missing"


def _connect(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=2):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError as err:
        return f"no route ({err.errno})"


def _registry_put(url: str, path: str) -> str:
    import httpx

    credentials = json.loads(Path(os.environ["BULKHEAD_REGISTRY_CREDENTIALS"]).read_text())
    response = httpx.put(
        f"{url}/api/2.0/mlflow-artifacts/artifacts/{path}",
        content=b"replaced by an attacker",
        auth=(credentials["username"], credentials["password"]),
        verify=credentials.get("ca_file") or True,
        timeout=10,
    )
    return str(response.status_code)


def _plant(link: str, target: str) -> str:
    """A link at a path root writes later (the inside-out attack): planted, or why not. An
    existing folder at the path is moved aside first (``<path>.aside``), as an attacker who
    owns the folder above it may."""
    try:
        if os.path.isdir(link) and not os.path.islink(link):
            os.rename(link, link + ".aside")
        os.symlink(target, link)
        return "planted"
    except PermissionError:
        return "refused"
    except FileExistsError:
        return "exists"


def main(spec: dict[str, object]) -> dict[str, object]:
    results: list[dict[str, str]] = []

    def record(kind: str, target: str, outcome: str) -> None:
        results.append({"kind": kind, "target": target, "outcome": outcome})

    for link, target in dict(spec.get("plant", {})).items():  # type: ignore[call-overload]
        record("plant", link, _plant(link, target))

    for label, path in dict(spec.get("read", {})).items():  # type: ignore[call-overload]
        record("read", label, _read(path))
    for label, path in dict(spec.get("write", {})).items():  # type: ignore[call-overload]
        record("write", label, _write(path))
    for label, path in dict(spec.get("send", {})).items():  # type: ignore[call-overload]
        record("send", label, _send(path))
    for label, path in dict(spec.get("delete", {})).items():  # type: ignore[call-overload]
        record("delete", label, _delete(path))
    for label, pid in dict(spec.get("signal", {})).items():  # type: ignore[call-overload]
        record("signal", label, _signal(int(pid)))
    for label, (host, port) in dict(spec.get("connect", {})).items():  # type: ignore[call-overload]
        record("connect", label, _connect(host, int(port)))
    put = spec.get("registry_put")
    if put:
        url, path = put  # type: ignore[misc]
        record("registry", "PUT the champion's model.onnx", _registry_put(url, path))
    return {"uid": os.getuid(), "euid": os.geteuid(), "results": results}


if __name__ == "__main__":
    decoded = json.loads(base64.b64decode(sys.argv[1]))
    print(RESULT_PREFIX + json.dumps(main(decoded)), flush=True)
