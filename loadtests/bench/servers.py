"""Start a baseline server as its own process group, wait until it answers, always stop it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A baseline server for one benchmark leg; the benchmark never runs two at once."""

    def __init__(
        self,
        name: str,
        command: list[str],
        health_url: str,
        log: Path,
        env: dict[str, str] | None = None,
        start_timeout_s: float = 120.0,
        cwd: Path | None = None,
        stop_timeout_s: float = 10.0,
        remove_after: Path | None = None,
    ) -> None:
        """``remove_after``: a folder the server works in, removed once it is stopped (a
        server killed after its grace period cannot clean up after itself)."""
        self.name = name
        self.command = command
        self.health_url = health_url
        self.log = log
        self.env = env
        self.start_timeout_s = start_timeout_s
        self.cwd = cwd
        self.stop_timeout_s = stop_timeout_s
        self.remove_after = remove_after
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if self.env is None else self.env)
        # Entry points (mlflow calls `uvicorn` by name) must come from this environment.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{self.name} exited {self._process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer {self.health_url} within {self.start_timeout_s:.0f} s"
        )

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            if self.remove_after is not None:
                shutil.rmtree(self.remove_after, ignore_errors=True)

    def _stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, self.stop_timeout_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
