"""What `bulkhead up` does after the services start: every configured model ingested, trained
and promoted (unless its champion was trained on that same snapshot), and serve_config.yaml
deployed.

The default model goes first and is deployed as soon as it is promoted: a new user gets a
first answer without waiting for the other models' training (each took minutes here). The
other models are trained after the deploy; their replicas, already running, load each
champion within a poll of its promotion and answer 503 with a reason until then.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bulkhead.operations.deploy import Deployment
from bulkhead.platform.core import Platform

Prepare = Callable[[Platform], None]
Deploy = Callable[[Platform, Path], Deployment]
Recheck = Callable[[Platform, Deployment], Deployment]


def model_order(platform: Platform) -> list[str]:
    """The default model first, then the others in their configured order."""
    default = platform.settings.default_model
    return [default, *(name for name in platform.settings.models if name != default)]


def prepare_model(platform: Platform) -> None:
    """Ingest the model's bundled data set, then train, gate and promote unless current."""
    from bulkhead.operations.ingest import run_ingest
    from bulkhead.operations.train import train_unless_current

    snapshot = run_ingest(platform, None, None, None, None)
    train_unless_current(platform, Path(snapshot.snapshot), snapshot.digest)


def deploy_config(platform: Platform, config: Path) -> Deployment:
    from bulkhead.operations.deploy import deploy

    return deploy(platform, config)


def recheck_served(platform: Platform, deployment: Deployment) -> Deployment:
    from bulkhead.operations.deploy import served_now

    return served_now(platform, deployment)


def run_pipeline(
    platform: Platform,
    config: Path,
    for_model: Callable[[str], Platform],
    on_first_answer: Callable[[Deployment, list[str]], None],
    prepare: Prepare = prepare_model,
    deploy: Deploy = deploy_config,
    recheck: Recheck = recheck_served,
) -> Deployment:
    """``for_model(name)``: the platform acting on that model. ``on_first_answer`` hears the
    deployment as soon as the default model answers, with the models still to train. Once
    they are trained, every model with a champion must be served, as `deploy` requires."""
    first, *rest = model_order(platform)
    platform.reporter.info(f"model {first} (the default model: served first)")
    prepare(for_model(first))
    deployment = deploy(platform, config)
    on_first_answer(deployment, rest)
    for name in rest:
        platform.reporter.info(f"model {name}")
        prepare(for_model(name))
    return recheck(platform, deployment) if rest else deployment
