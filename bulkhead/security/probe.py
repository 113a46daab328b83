"""``python -m bulkhead.security.probe '<json targets>'``: TCP-connect each target, print JSON.

Run inside a zone's network namespace by ``bulkhead check-isolation``; standard library only,
so it starts in milliseconds wherever it runs.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

OPEN, REFUSED, UNREACHABLE, TIMEOUT = "open", "refused", "no route", "timeout"


def connect(address: str, port: int, timeout_s: float) -> str:
    try:
        with socket.create_connection((address, port), timeout=timeout_s):
            return OPEN
    except ConnectionRefusedError:
        return REFUSED
    except TimeoutError:
        return TIMEOUT
    except OSError as err:
        if err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return UNREACHABLE
        return f"error: {err.strerror or err}"


def main(argv: list[str]) -> int:
    targets = json.loads(argv[1])
    timeout_s = float(argv[2]) if len(argv) > 2 else 1.0
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        outcomes = list(
            pool.map(lambda t: connect(t["address"], int(t["port"]), timeout_s), targets)
        )
    print(json.dumps(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
