"""`bulkhead status` as a person reads it.

Covers: bulkhead/cli/render.py (print_status)
"""

from __future__ import annotations

from rich.console import Console

from bulkhead.cli.render import print_status
from bulkhead.platform.status import PlatformStatus, ServiceStatus


def _status(model: str) -> PlatformStatus:
    return PlatformStatus(
        serve_url="http://127.0.0.1:8000",
        mlflow_url="http://127.0.0.1:5000",
        registry_state="running",
        registry_error=None,
        model_name=model,
        default_model="sentiment",
        experiment_name="bulkhead",
        champion_version="2",
        champions={"sentiment": "1", "subjectivity": "2"},
        api_key_file="k",
        secrets_dir="s",
        latest_snapshots={},
        zones={},
        services=[
            ServiceStatus(name="registry", state="running", pids=[1]),
            ServiceStatus(name="front balancer", state="not used"),
        ],
    )


def _printed(status: PlatformStatus) -> str:
    console = Console(record=True, width=200)
    print_status(console, status)
    return console.export_text()


def test_status_for_another_model_still_labels_the_default_model() -> None:
    """Found by review: `status --model subjectivity` labelled subjectivity "(default)"."""
    text = _printed(_status("subjectivity"))
    assert "sentiment (default)" in text
    assert "subjectivity (default)" not in text


def test_status_lists_the_services_in_use() -> None:
    text = _printed(_status("sentiment"))
    assert "services: registry running" in text
    assert "front balancer" not in text
