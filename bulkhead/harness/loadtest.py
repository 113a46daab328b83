"""``bulkhead loadtest``: a staged Locust profile against the running serve zone, with a report."""

from __future__ import annotations

import time
from pathlib import Path

from bulkhead.operations.errors import BadInput, NotRunning, OperationFailed
from bulkhead.platform.core import Platform
from bulkhead.platform.settings import Zone
from bulkhead.render.serve_config import application_of
from contracts.serve_api import MOUNTED_PREDICT, PREDICT, model_route
from loadtests.profiles import LoadProfile, get_profile
from loadtests.runner import LOCUSTFILE, LoadTarget, LocustFailed, run_locust
from loadtests.summary import LoadTestSummary
from loadtests.texts import latest_snapshot, texts_from_snapshot, write_texts


def serve_target(platform: Platform) -> LoadTarget:
    """The running serve zone's URL, key, CA (under TLS) and dashboard."""
    zone = platform.load_state().zones.get(Zone.SERVE)
    if zone is None:
        raise NotRunning("the serve zone is not running; run `bulkhead up`")
    endpoint = platform.serve_endpoint()
    model = platform.model_name
    found = application_of(platform, model)
    if found is None:
        raise BadInput(f"no application in the deployed serve config serves {model!r}")
    application, prefix = found
    return LoadTarget(
        base_url=endpoint.url,
        api_key_file=endpoint.api_key_file,
        ca_file=endpoint.ca_file,
        model_name=model,
        app_name=application,
        # The default model's application answers at the root (and OIP v2); another
        # model's at its own prefix only.
        predict_path=PREDICT if prefix == "/" else model_route(model, MOUNTED_PREDICT),
        oip=prefix == "/",
        dashboard_url=zone.dashboard_url,
        ray_token_file=zone.token_file,
    )


def request_texts(platform: Platform, out: Path) -> Path:
    snapshot = platform.model_snapshot() or latest_snapshot(platform.paths.snapshots)
    if snapshot is None:
        raise BadInput("no dataset snapshot to draw texts from; run `bulkhead ingest`")
    return write_texts(texts_from_snapshot(snapshot), out / "texts.jsonl")


def run_with_progress(
    platform: Platform,
    profile: LoadProfile,
    target: LoadTarget,
    out: Path,
    texts: Path,
    *,
    locustfile: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> LoadTestSummary:
    with platform.reporter.progress(profile.name, profile.total_s) as update:

        def tick(elapsed: float) -> None:
            stage = profile.stage_at(elapsed)
            label = f"{profile.name}: {stage.name}" if stage else f"{profile.name}: stopping"
            update(label, min(elapsed, profile.total_s))

        try:
            return run_locust(
                profile,
                target,
                out,
                texts,
                on_tick=tick,
                locustfile=locustfile or LOCUSTFILE,
                extra_env=extra_env,
            )
        except LocustFailed as err:
            raise OperationFailed(f"load test failed: {err}") from None


def run_loadtest(platform: Platform, profile_name: str, report: Path | None) -> LoadTestSummary:
    try:
        profile = get_profile(profile_name)
    except KeyError as err:
        raise BadInput(str(err.args[0])) from None
    target = serve_target(platform)
    out = report or Path("reports") / f"loadtest-{profile.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    texts = request_texts(platform, out)
    platform.reporter.info(
        f"load test {profile.name}: {profile.description} ({profile.total_s:.0f} s)"
    )
    return run_with_progress(platform, profile, target, out, texts)
