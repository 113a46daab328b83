"""The serving stacks Bulkhead is measured against, each started the way its users start it.

Every peer serves the champion bundle through ``loadtests/peer_servers/text_model.py`` (same
tokenizer, same onnxruntime session options) and runs in its own virtual environment under
``.bulkhead/peers/`` with its own pins, so installing KServe or BentoML never moves a package
Bulkhead depends on. onnxruntime, tokenizers and numpy are pinned to the versions Bulkhead
runs, so the model code is byte for byte the same everywhere. Stock Ray Serve and the
hand-written FastAPI server need nothing beyond Bulkhead's own environment.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from pydantic import BaseModel

from loadtests.bench.servers import ServerProcess

# The Ray Serve peer's Ray folder (loadtests/peer_servers/rayserve_app.py reads it).
RAY_PEER_TEMP_ENV = "PEER_RAY_TEMP_DIR"
PEER_SERVERS = Path(__file__).resolve().parents[1] / "peer_servers"


class PeerLaunch(BaseModel):
    """What it takes to start one peer on ``port``: argv, environment, readiness URL path."""

    command: list[str]
    env: dict[str, str]
    health_path: str
    cwd: str
    port: int
    temp_dir: str | None = None  # removed once the peer is stopped

    def server(self, name: str, log: Path) -> ServerProcess:
        """The peer as a process group of its own, ready when its health path answers 200;
        a Ray cluster takes a while to shut down, hence the longer stop."""
        if self.temp_dir:  # made now, only by us (a folder already there is refused)
            os.mkdir(self.temp_dir, 0o700)
        return ServerProcess(
            name,
            self.command,
            f"http://127.0.0.1:{self.port}{self.health_path}",
            log,
            env={**os.environ, **self.env},
            cwd=Path(self.cwd),
            stop_timeout_s=30.0,
            remove_after=Path(self.temp_dir) if self.temp_dir else None,
        )


class Peer(BaseModel):
    key: str  # the bench locustfile's target name
    name: str
    environment: str | None  # folder under .bulkhead/peers/; None: Bulkhead's own venv
    packages: list[str]
    settings: str  # how it is configured, for the report and docs


def model_pins() -> list[str]:
    """The model's runtime exactly as Bulkhead runs it."""
    return [f"{name}=={version(name)}" for name in ("onnxruntime", "tokenizers", "numpy")]


PEERS: dict[str, Peer] = {
    p.key: p
    for p in (
        Peer(
            key="kserve-v1",
            name="KServe (v1)",
            environment="kserve",
            packages=["kserve==0.21.0"],
            settings="kserve.Model + ModelServer, --workers=cores, 1 ORT thread per worker, "
            "latency log line off",
        ),
        Peer(
            key="kserve-v2",
            name="KServe (OIP v2)",
            environment="kserve",
            packages=["kserve==0.21.0"],
            settings="same server as KServe (v1), Open Inference Protocol route",
        ),
        Peer(
            key="mlserver",
            name="MLServer (OIP v2)",
            environment="mlserver",
            # MLServer 1.7.1's inference workers call asyncio.get_event_loop() in a fresh
            # process, which uvloop >= 0.22 refuses ("There is no current event loop").
            packages=["mlserver==1.7.1", "uvloop==0.21.0"],
            settings="custom MLModel runtime, parallel_workers=cores, 1 ORT thread per worker",
        ),
        Peer(
            key="bentoml",
            name="BentoML",
            environment="bentoml",
            packages=["bentoml==1.4.40"],
            settings="@bentoml.service(workers=cores), sync @bentoml.api, 1 ORT thread per "
            "worker, access log off",
        ),
        Peer(
            key="rayserve",
            name="Ray Serve (stock)",
            environment=None,
            packages=[],
            settings="one deployment, FastAPI ingress, default proxy, 1 replica per core "
            "(num_cpus=1), 1 ORT thread per replica; its own local Ray cluster",
        ),
    )
}


def environment_python(home: Path, peer: Peer, log: Callable[[str], None]) -> str:
    """The interpreter of the peer's environment, created or updated when its pins changed."""
    if peer.environment is None:
        return sys.executable
    return own_environment(home, peer.environment, peer.packages + model_pins(), log)


def own_environment(home: Path, name: str, packages: list[str], log: Callable[[str], None]) -> str:
    """``home/peers/{name}``: a virtual environment of its own holding exactly ``packages``
    (installed again only when the pins change); its interpreter."""
    folder = home / "peers" / name
    pins = sorted(set(packages))
    stamp = folder / ".bulkhead-pins"
    wanted = hashlib.sha256("\n".join(pins).encode()).hexdigest()
    python = folder / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return str(python)
    log(f"installing {name} into {folder} ({', '.join(pins)}); about 30 s")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(pins)} failed:\n{result.stderr[-1500:]}")
    stamp.write_text(wanted)
    return str(python)


def launch(
    peer: Peer, python: str, bundle: Path, port: int, workers: int, workdir: Path, model: str
) -> PeerLaunch:
    common = ["--bundle", str(bundle), "--port", str(port), "--workers", str(workers)]
    common += ["--threads", "1", "--model-name", model]
    env = {"PYTHONPATH": str(PEER_SERVERS), "BENTOML_DO_NOT_TRACK": "true"}
    # Whatever a stack writes where it runs (MLServer's metrics folder...) lands in the report.
    workdir.mkdir(parents=True, exist_ok=True)
    cwd = str(workdir)
    if peer.key in ("kserve-v1", "kserve-v2"):
        command = [python, str(PEER_SERVERS / "kserve_server.py"), *common]
        command += ["--enable_latency_logging", "false"]
        return PeerLaunch(
            port=port, command=command, env=env, health_path=f"/v1/models/{model}", cwd=cwd
        )
    if peer.key == "mlserver":
        command = [python, str(PEER_SERVERS / "mlserver_runtime.py"), *common]
        command += ["--folder", str(workdir / "mlserver")]
        path = f"/v2/models/{model}/ready"
        return PeerLaunch(port=port, command=command, env=env, health_path=path, cwd=cwd)
    if peer.key == "bentoml":
        bentoml = str(Path(python).parent / "bentoml")
        command = [bentoml, "serve", "bentoml_service:Sentiment", "--host", "127.0.0.1"]
        command += ["--working-dir", str(PEER_SERVERS)]
        command += ["--port", str(port)]
        env |= {"PEER_BUNDLE": str(bundle), "PEER_WORKERS": str(workers), "PEER_THREADS": "1"}
        return PeerLaunch(port=port, command=command, env=env, health_path="/readyz", cwd=cwd)
    if peer.key == "rayserve":
        command = [python, str(PEER_SERVERS / "rayserve_app.py"), *common]
        # Ray's folder, made here and removed here: short (its socket paths must fit 107
        # bytes), and gone even when the peer had to be killed.
        # (Named here, made when the peer's process is: a plan never started leaves nothing.)
        temp = str(Path(tempfile.gettempdir()) / f"bh-rs-{secrets.token_hex(6)}")
        env |= {RAY_PEER_TEMP_ENV: temp}
        return PeerLaunch(
            port=port, command=command, env=env, health_path="/health", cwd=cwd, temp_dir=temp
        )
    raise KeyError(peer.key)
