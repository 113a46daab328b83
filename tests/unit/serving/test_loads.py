"""Timed-out model loads cannot pile up threads or take predictions' threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from serving.loads import LoadersBusy, Loads, StillLoading


def test_a_hung_load_holds_one_load_thread_and_nothing_else() -> None:
    """Found by review: each timed-out load kept a thread of the default executor, which
    predictions share; a hung download, retried on every poll, took them all."""
    release = threading.Event()
    loads = Loads(threads=2)

    async def main() -> list[str]:
        seen = []
        with pytest.raises(TimeoutError):
            await loads.run("v1", 0.05, release.wait)
        for key in ("v1", "v2", "v3"):  # v1 again, then two others with one thread left
            try:
                await loads.run(key, 0.05, release.wait)
            except StillLoading:
                seen.append(f"{key}: still loading")
            except LoadersBusy:
                seen.append(f"{key}: busy")
            except TimeoutError:
                seen.append(f"{key}: timed out")
        # Predictions' threads (the default executor) are all free.
        assert await asyncio.to_thread(lambda: "predicted") == "predicted"
        release.set()
        await asyncio.sleep(0.1)
        seen.append(await loads.run("v1", 1.0, lambda: "loaded"))
        return seen

    try:
        assert asyncio.run(main()) == ["v1: still loading", "v2: timed out", "v3: busy", "loaded"]
    finally:
        release.set()
        loads.close()
