"""Run the HAProxy wrapper Serve execs (bulkhead/platform/services.py) on a config file, with a
stand-in for HAProxy that prints the file as the wrapper left it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bulkhead.platform import haproxy_wrapper


def config_after_wrapper(script: str, config_text: str, tmp: Path) -> str:
    """The config as HAProxy would read it once ``script`` (the wrapper) has rewritten it."""
    assert f"exec {haproxy_wrapper.haproxy_binary()} " in script
    wrapper = tmp / "haproxy"
    stand_in = "exec /bin/sh -c 'cat \"$3\"' haproxy"
    wrapper.write_text(script.replace(f"exec {haproxy_wrapper.haproxy_binary()}", stand_in))
    wrapper.chmod(0o700)
    config = tmp / "haproxy.cfg"
    config.write_text(config_text)
    # The wrapper passes every argument on; the stand-in prints the file.
    done = subprocess.run([str(wrapper), "-db", "-f", str(config)], capture_output=True, text=True)
    return done.stdout
