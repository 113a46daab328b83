"""Covers: bulkhead/operations/pipeline.py (what `bulkhead up` runs after the services).

The default model is prepared and deployed before any other model trains, so a new user's
first answer waits for one model's training, not all of them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bulkhead.operations.pipeline import model_order, run_pipeline


class _Reporter:
    def info(self, line: str) -> None:
        pass


def _platform(models: list[str], default: str, acting_on: str | None = None) -> Any:
    settings = SimpleNamespace(models=models, default_model=default)
    return SimpleNamespace(settings=settings, reporter=_Reporter(), acting_on=acting_on)


def test_the_default_model_is_served_before_any_other_trains() -> None:
    platform = _platform(["subjectivity", "sentiment", "topic"], "sentiment")
    assert model_order(platform) == ["sentiment", "subjectivity", "topic"]
    events: list[str] = []
    deployed = SimpleNamespace(url="http://x")

    def for_model(name: str) -> Any:
        return _platform(["subjectivity", "sentiment", "topic"], "sentiment", acting_on=name)

    def prepare(acting_on: Any) -> None:
        events.append(f"prepare {acting_on.acting_on}")

    def deploy(_: Any, config: Path) -> Any:
        events.append(f"deploy {config}")
        return deployed

    def first_answer(deployment: Any, rest: list[str]) -> None:
        assert deployment is deployed
        events.append(f"answering; still {rest}")

    def recheck(_: Any, deployment: Any) -> Any:
        events.append("every model with a champion served")
        return deployment

    result = run_pipeline(
        platform, Path("serve.yaml"), for_model, first_answer, prepare, deploy, recheck
    )
    assert result.url == "http://x"
    assert events == [
        "prepare sentiment",
        "deploy serve.yaml",
        "answering; still ['subjectivity', 'topic']",
        "prepare subjectivity",
        "prepare topic",
        "every model with a champion served",
    ]
