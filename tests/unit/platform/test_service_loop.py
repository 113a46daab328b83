"""`up`, `down` and `status` are loops over one ordered list of services: run here over fake
services that start real (sleeping) processes, so the loop's promises are checked without a
registry or a Ray cluster.

Covers: bulkhead/platform/core.py, bulkhead/platform/service.py, bulkhead/platform/service_list.py
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bulkhead.platform import core, provision
from bulkhead.platform.core import Platform, PlatformError
from bulkhead.platform.procs import ProcessRecord, ServiceStartError, is_alive, spawn
from bulkhead.platform.service import Context, Service, stop_batches
from bulkhead.platform.service_list import SERVICES
from bulkhead.platform.settings import PlatformSettings
from bulkhead.platform.state import PlatformState


class FakeService(Service):
    """Starts `sleep` as its own session; keeps its record itself (not in the state)."""

    def __init__(
        self,
        name: str,
        journal: list[str],
        *,
        wanted: bool = True,
        fails: bool = False,
        parallel: bool = False,
        meet: threading.Barrier | None = None,
    ) -> None:
        self.name = name
        self.journal = journal
        self._wanted = wanted
        self.fails = fails
        self.stops_in_parallel = parallel  # type: ignore[misc]
        self.starts_in_parallel = meet is not None  # type: ignore[misc]
        # Parallel starts wait here for each other: only starts that run at once get through.
        self.meet = meet
        self.held: list[ProcessRecord] = []

    def wanted(self, settings: PlatformSettings) -> bool:
        return self._wanted

    def records(self, state: PlatformState) -> list[ProcessRecord]:
        return list(self.held)

    def forget(self, state: PlatformState, record: ProcessRecord) -> None:
        self.held.remove(record)

    def title(self, ctx: Context) -> str:
        return f"fake {self.name}"

    def start(self, ctx: Context) -> None:
        self.journal.append(f"start {self.name}")
        if self.meet is not None:
            self.meet.wait()
        if self.fails:
            raise ServiceStartError(f"{self.name} would not start")
        record = spawn(["sleep", "60"], {}, ctx.paths.log_file(self.name), ctx.paths.home)
        ctx.record_started(record)
        self.held.append(record)

    def stop(self, ctx: Context) -> int:
        self.journal.append(f"stop {self.name}")
        return super().stop(ctx)

    def after_stop(self, ctx: Context) -> None:
        self.journal.append(f"after {self.name}")


MakePlatform = Callable[[tuple[Service, ...]], Platform]


@pytest.fixture
def journal() -> list[str]:
    return []


@pytest.fixture
def platform_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePlatform]:
    """A Platform over the given services; secrets and identities (outside the loop) faked."""
    monkeypatch.setattr(provision, "ensure_secrets", lambda settings, paths: None)
    monkeypatch.setattr(core.Platform, "_up_identities", lambda self, state: None)
    made: list[Platform] = []

    def make(services: tuple[Service, ...]) -> Platform:
        settings = PlatformSettings(home=tmp_path / ".bulkhead")
        platform = Platform(settings, services_list=services)
        made.append(platform)
        return platform

    yield make
    for platform in made:  # whatever a failed test left running
        platform.down()


def test_up_starts_the_wanted_services_in_order_and_reuses_what_runs(
    platform_of: MakePlatform,
    journal: list[str],
) -> None:
    services = (
        FakeService("a", journal),
        FakeService("unwanted", journal, wanted=False),
        FakeService("b", journal),
    )
    platform = platform_of(services)
    platform.up()
    assert journal == ["start a", "start b"]
    first = [record.pid for service in services for record in service.held]
    platform.up()  # idempotent: nothing started twice
    assert journal == ["start a", "start b"]
    assert [record.pid for service in services for record in service.held] == first


def test_a_failed_start_stops_what_this_up_started_and_leaves_the_rest(
    platform_of: MakePlatform,
    journal: list[str],
) -> None:
    first, second = FakeService("first", journal), FakeService("second", journal)
    platform = platform_of((first, second))
    platform.up()
    kept = first.held[0]
    second.stop(platform._context(platform.load_state()))  # the second one died
    third = FakeService("third", journal, fails=True)
    platform = platform_of((first, second, third))
    with pytest.raises(PlatformError, match="third would not start"):
        platform.up()
    assert is_alive(kept)  # running before this `up`: left alone
    assert not second.held or not any(is_alive(r) for r in second.held)  # started, then stopped


def test_neighbours_that_start_in_parallel_start_at_once_and_fail_together(
    platform_of: MakePlatform,
    journal: list[str],
) -> None:
    meet = threading.Barrier(2, timeout=10)  # broken (an error) unless both starts overlap
    zones = [FakeService(f"zone-{i}", journal, meet=meet) for i in (1, 2)]
    platform = platform_of((FakeService("registry", journal), *zones))
    platform.up()
    assert journal[0] == "start registry" and sorted(journal[1:]) == [
        "start zone-1",
        "start zone-2",
    ]
    assert all(is_alive(record) for zone in zones for record in zone.held)
    platform.down()

    # One of a parallel batch fails: the other, started at the same time, is stopped again.
    journal.clear()
    meet = threading.Barrier(2, timeout=10)
    good = FakeService("zone-1", journal, meet=meet)
    bad = FakeService("zone-2", journal, meet=meet, fails=True)
    platform = platform_of((good, bad))
    with pytest.raises(PlatformError, match="zone-2 would not start"):
        platform.up()
    assert "start zone-1" in journal
    assert not good.held  # stopped, then forgotten as dead


def test_down_stops_in_reverse_with_ray_nodes_at_once_then_cleans_up(
    platform_of: MakePlatform,
    journal: list[str],
) -> None:
    services = (
        FakeService("registry", journal),
        FakeService("zone-1", journal, parallel=True),
        FakeService("zone-2", journal, parallel=True),
        FakeService("controller", journal),
    )
    platform = platform_of(services)
    platform.up()
    records = [record for service in services for record in service.held]
    journal.clear()
    assert platform.down() == 4
    assert journal[0:2] == ["stop controller", "after controller"]
    assert sorted(journal[2:4]) == ["stop zone-1", "stop zone-2"]  # at once, either order
    assert journal[4:] == ["after zone-2", "after zone-1", "stop registry", "after registry"]
    assert not any(is_alive(record) for record in records)


def test_status_lists_every_service_in_order_with_its_state(
    platform_of: MakePlatform,
    journal: list[str],
) -> None:
    services = (FakeService("a", journal), FakeService("off", journal, wanted=False))
    platform = platform_of(services)
    platform.up()
    ctx = platform._context(platform.load_state())
    seen = [service.status(ctx) for service in services]
    assert [(s.name, s.state) for s in seen] == [("a", "running"), ("off", "not used")]
    assert seen[0].pids == [services[0].held[0].pid]
    platform.down()
    assert services[0].status(ctx).state == "stopped"


def test_batches_group_neighbours_that_stop_in_parallel(journal: list[str]) -> None:
    a, b, c, d = (
        FakeService("a", journal),
        FakeService("b", journal, parallel=True),
        FakeService("c", journal, parallel=True),
        FakeService("d", journal),
    )
    assert [[s.name for s in batch] for batch in stop_batches([a, b, c, d])] == [
        ["a"],
        ["b", "c"],
        ["d"],
    ]


def test_the_platform_list_starts_the_registry_first_and_stops_it_last() -> None:
    names = [service.name for service in SERVICES]
    assert names[0] == "registry"
    assert names.index("drop keeper") < names.index("serve zone")  # replicas send to it
    assert names.index("serve zone") < names.index("serve worker nodes")
    assert names[-1] == "rollout controller"


class SleeperService(Service):
    """A new one-process service as a contributor writes one: a name, a key and a start; its
    record lives in the saved state's one map, with no field of its own."""

    name = "sleeper"
    key = "sleeper"

    def title(self, ctx: Context) -> str:
        return "a sleeping process"

    def start(self, ctx: Context) -> None:
        self.keep(ctx, spawn(["sleep", "60"], {}, ctx.paths.log_file("sleeper"), ctx.paths.home))


def test_a_new_service_is_one_class_with_its_record_in_the_saved_map(
    platform_of: MakePlatform,
) -> None:
    platform = platform_of((SleeperService(),))
    platform.up()
    saved = platform.load_state().process("sleeper")
    assert saved is not None and is_alive(saved)
    assert [s.state for s in platform.status().services] == ["running"]
    assert platform.down() == 1
    assert not is_alive(saved) and platform.load_state().processes == {}


def test_a_state_saved_before_the_one_map_still_names_every_record(tmp_path: Path) -> None:
    """`down` after an upgrade must still stop what the old `up` started."""
    import json

    from bulkhead.platform.state import DROP_KEEPER, serve_node_key

    record = {"pid": 4242, "create_time": 1.5, "log": "/tmp/x.log"}
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps({"drop_keeper": record, "balancer": record, "serve_workers": {"2": record}})
    )
    state = PlatformState.load(path)
    assert set(state.processes) == {DROP_KEEPER, "front balancer", serve_node_key(2)}
    assert state.serve_workers()[2].pid == 4242


def test_down_stops_a_record_no_service_claims(platform_of: MakePlatform, tmp_path: Path) -> None:
    """A record kept under a key no service in the list names any more (a renamed or removed
    service) is still this platform's process: `down` stops it rather than orphan it."""
    platform = platform_of((SleeperService(),))
    platform.up()
    state = platform.load_state()
    record = state.processes.pop("sleeper")
    state.processes["a service that was renamed"] = record
    platform.save_state(state)
    assert platform.down() == 1
    assert not is_alive(record) and platform.load_state().processes == {}


def test_keeping_a_record_without_a_key_is_refused(platform_of: MakePlatform) -> None:
    class Keyless(SleeperService):
        key = ""

    platform = platform_of((Keyless(),))
    with pytest.raises(PlatformError, match="names no key"):
        platform.up()
    assert platform.load_state().processes == {}  # and what it started was stopped again
