"""`bulkhead chaos --scenario drift` (`make loop`): the feedback loop end to end, through the
real platform, as a team would run it when the world shifts under a served model.

1. the champion answers a labelled stream of another domain (loadtests/shifted.py);
   its accuracy on a held-out part of that stream is measured through the serve zone;
2. `monitor`'s statistics compare the stream with the champion's training snapshot;
3. clients send the true labels of the other part back (`POST /v1/feedback`);
4. `ingest --from-feedback` merges them into a new snapshot with lineage, `train` trains and
   gates a challenger on it;
5. the rollout controller takes it through shadow and canary to champion, under load;
6. the held-out accuracy is measured again: the gain is the loop's headline figure.

The rollout does not hold the candidate to agreement with the champion: on shifted traffic a
retrained model is meant to disagree with it. Errors and p99 still gate every step.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult, scenario_result, skipped, wait
from bulkhead.harness.chaos.delivery import drive_rollout, quicker
from bulkhead.harness.chaos.models import settled_on
from contracts.rollout import RolloutPolicy
from contracts.tags import CHAMPION, SIGNATURE_REFUSED_TAG, SIGNATURE_TAG
from loadtests.shifted import LabelledText, has_shifted_set, shifted_split
from serving.client import ServeError

SCENARIO = "drift"
SIGNER_VERDICT_TAGS = {SIGNATURE_TAG, SIGNATURE_REFUSED_TAG}
GOAL = (
    "drift flagged on the shifted stream; the model retrained on its feedback is promoted by "
    "the rollout controller with 0 failed requests; held-out shifted accuracy goes up"
)
BATCH = 8
# In-domain texts sent before the shifted stream: `monitor`'s confidence reference.
IN_DOMAIN_TEXTS = 200
# Load during the rollout: enough requests per step for the controller (min_requests).
CLIENTS, PER_CLIENT_RPS = 4, 8.0
LOOP_POLICY = RolloutPolicy(
    shadow_for_s=15,
    steps=[25, 100],
    step_for_s=15,
    min_requests=100,
    min_agreement=0.0,
    max_p99_ratio=2.0,
    max_error_rate=0.01,
)


class LoopSettings(BaseModel):
    """What the loop trains with and how much it sends, from the environment (`make loop`
    passes them; CI trains the tiny preset with lowered gate floors)."""

    model_config = ConfigDict(extra="forbid")

    preset: str = Field("default", description="BULKHEAD_LOOP_PRESET: the training preset.")
    train_config: Path | None = Field(
        None, description="BULKHEAD_LOOP_TRAIN_CONFIG: a TrainConfig YAML on top of the preset."
    )
    feedback_per_label: int = Field(
        600, ge=10, description="BULKHEAD_LOOP_FEEDBACK: labelled texts sent back, per label."
    )
    held_out_per_label: int = Field(
        400, ge=10, description="BULKHEAD_LOOP_HELD_OUT: texts never sent back, per label."
    )

    @classmethod
    def from_env(cls) -> LoopSettings:
        names = {
            "preset": "BULKHEAD_LOOP_PRESET",
            "train_config": "BULKHEAD_LOOP_TRAIN_CONFIG",
            "feedback_per_label": "BULKHEAD_LOOP_FEEDBACK",
            "held_out_per_label": "BULKHEAD_LOOP_HELD_OUT",
        }
        return cls.model_validate({k: os.environ[v] for k, v in names.items() if v in os.environ})


class HeldOutAccuracy(BaseModel):
    accuracy: float
    texts: int
    versions: dict[str, int] = Field(description="Which version answered how many texts.")


class LoopReport(BaseModel):
    """loop.json: every figure of one run of the loop."""

    model_config = ConfigDict(extra="forbid")

    model: str
    champion_before: str
    candidate: str | None = None
    champion_after: str | None = None
    before: HeldOutAccuracy
    after: HeldOutAccuracy | None = None
    gain: float | None = None
    drift_verdict: str
    drift: dict[str, float | None] = Field(description="Each statistic's value on the stream.")
    feedback_sent: int
    feedback_accepted: int
    snapshot: str | None = None
    lineage_rows: int | None = None
    train_metrics: dict[str, float] = Field(default_factory=dict)
    gate_passed: bool | None = None
    rollout: str | None = None
    seconds: dict[str, float] = Field(default_factory=dict, description="Each step's time.")


def _echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _held_out_accuracy(ctx: ChaosContext, rows: list[LabelledText]) -> HeldOutAccuracy:
    correct, versions = 0, Counter[str]()
    with ctx.client(timeout_s=60) as client:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            answer = client.predict([r.text for r in batch])
            versions[answer.model.version] += len(batch)
            correct += sum(
                p.label == r.label for p, r in zip(answer.predictions, batch, strict=True)
            )
    return HeldOutAccuracy(
        accuracy=round(correct / len(rows), 4), texts=len(rows), versions=dict(versions)
    )


def _ready(ctx: ChaosContext) -> bool:
    """The model under test answers readiness with a loaded, verified version."""
    try:
        with ctx.client(timeout_s=5) as client:
            return client.ready().ready
    except (httpx.HTTPError, ServeError, OSError, ValueError):
        return False


def _send(ctx: ChaosContext, texts: list[str]) -> list[tuple[str, int]]:
    """Each text's (request id, index in its request), in order."""
    ids: list[tuple[str, int]] = []
    with ctx.client(timeout_s=60) as client:
        for start in range(0, len(texts), BATCH):
            answer = client.predict(texts[start : start + BATCH])
            if answer.request_id is None:
                raise RuntimeError("the serve zone sent no request id: is payload logging on?")
            ids += [(answer.request_id, i) for i in range(len(answer.predictions))]
    return ids


def _send_feedback(ctx: ChaosContext, ids: list[tuple[str, int]], rows: list[LabelledText]) -> int:
    accepted = 0
    with ctx.client(timeout_s=30) as client:
        for (request_id, index), row in zip(ids, rows, strict=True):
            answer = client.feedback_response(request_id, row.label, index)
            accepted += answer.status_code == 202
    return accepted


def _logged(ctx: ChaosContext, request_ids: set[str]) -> bool:
    from drop.reader import read_drop

    logged = read_drop(ctx.platform.paths.drop_records, ctx.application).predictions
    return request_ids <= {p.request_id for p in logged}


def drift(ctx: ChaosContext) -> ScenarioResult:
    from bulkhead.operations.ingest import run_ingest
    from bulkhead.operations.monitor import run_monitor
    from bulkhead.operations.rollout import store
    from bulkhead.operations.train import run_train

    platform = ctx.platform
    model = ctx.application
    dataset = platform.model.dataset
    if not has_shifted_set(dataset):
        return skipped(
            SCENARIO,
            "a shifted, labelled stream",
            GOAL,
            f"no labelled shifted stream for {model!r} (data set {dataset!r}); "
            "run it on the subjectivity model (`make loop`)",
        )
    settings = LoopSettings.from_env()
    split = shifted_split(dataset, settings.feedback_per_label, settings.held_out_per_label)
    rollouts = store(platform)
    champion = rollouts.writer.alias_version(CHAMPION)
    if champion is None:
        return skipped(SCENARIO, "a shifted stream", GOAL, f"{model!r} has no champion")
    leftover = rollouts.current()
    if leftover is not None and leftover.active:
        rollouts.record(rollouts.abort(leftover, "loop: clearing"), "abort", "loop: clearing")
    folder = platform.paths.home / "reports" / "loop" / f"{model}-{int(time.time())}"
    seconds: dict[str, float] = {}
    clock = time.monotonic()

    def lap(step: str) -> None:
        nonlocal clock
        seconds[step] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()
        _echo(f"loop: {step} done ({seconds[step]:.0f} s)")

    # The champion promoted just before (`make loop` on a fresh platform) may still be loading:
    # its first requests would be 503s. Start once the model's replicas say they are ready.
    if wait(lambda: _ready(ctx), 120, 0.5) is None:
        return skipped(SCENARIO, "a shifted stream", GOAL, f"{model!r} never became ready")
    # 1. in-domain traffic (the reference), then the shifted stream; the held-out half first
    _send(ctx, ctx.texts[:IN_DOMAIN_TEXTS])
    time.sleep(1.5)
    window_start = time.time()
    before = _held_out_accuracy(ctx, split.held_out)
    ids = _send(ctx, [r.text for r in split.feedback])
    wait(lambda: _logged(ctx, {rid for rid, _ in ids}), 60, 0.5)
    lap("stream")
    # 2. drift, as `bulkhead monitor --since` reports it (its report written under the loop's)
    monitor, _ = run_monitor(platform, window_start - 0.5, folder / "monitor")
    lap("monitor")
    # 3. the labels of the feedback half come back
    accepted = _send_feedback(ctx, ids, split.feedback)
    lap("feedback")
    report = LoopReport(
        model=model,
        champion_before=champion,
        before=before,
        drift_verdict=monitor.verdict,
        drift={s.name: s.value for s in monitor.statistics},
        feedback_sent=len(ids),
        feedback_accepted=accepted,
    )
    # 4. a snapshot with lineage, a challenger trained and gated on it
    ingested = run_ingest(platform, None, None, None, None, from_feedback=True)
    report.snapshot = ingested.snapshot
    report.lineage_rows = ingested.lineage.feedback_rows if ingested.lineage else None
    lap("ingest")
    trained = run_train(
        platform,
        settings.preset,
        settings.train_config,
        {},
        Path(ingested.snapshot),
        auto_promote=False,
    )
    lap("train")
    report.candidate, report.gate_passed = trained.version, trained.gate.passed
    report.train_metrics = {k: float(v) for k, v in trained.metrics.items() if k in _METRICS}
    # 5. shadow -> canary -> champion, under load: the world's new mix of texts
    mixed = replace(ctx, texts=ctx.texts[:IN_DOMAIN_TEXTS] + [r.text for r in split.feedback])
    with mixed.load(clients=CLIENTS, per_client_rps=PER_CLIENT_RPS) as load:
        time.sleep(2)
        decided_at = load.elapsed()
        if trained.gate.passed and trained.version is not None:
            # The model signer measures it again and signs it (seconds); no replica loads an
            # unsigned candidate, so the rollout starts once it is signed.
            version = trained.version
            wait(lambda: bool(SIGNER_VERDICT_TAGS & set(rollouts.writer.tags(version))), 60)
            refusal = rollouts.writer.tags(version).get(SIGNATURE_REFUSED_TAG)
            if SIGNATURE_TAG not in rollouts.writer.tags(version):
                report.rollout = f"not rolled out: the signer refused it ({refusal})"
            else:
                state = rollouts.start(
                    version, quicker(ctx, LOOP_POLICY), reason="loop: retrained on feedback"
                )
                final, _ = drive_rollout(ctx, rollouts, state, f"loop-{state.id}", 300)
                decided_at = load.elapsed()
                if final is None or final.active:
                    rollouts.abort(state, "loop: the controller did not decide in time")
                report.rollout = f"{final.phase}: {final.reason}" if final else "no decision"
        target = rollouts.writer.alias_version(CHAMPION) or champion
        wait(lambda: settled_on(load, target, decided_at), 60)
    counts = load.counts()
    lap("rollout")
    # 6. the held-out half again
    report.champion_after = target
    report.after = _held_out_accuracy(ctx, split.held_out)
    report.gain = round(report.after.accuracy - before.accuracy, 4)
    lap("held-out")
    report.seconds = seconds
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "loop.json").write_text(report.model_dump_json(indent=2))
    _plot(report, folder / "loop.png")
    promoted = target == trained.version
    passed = (
        monitor.verdict == "drift" and promoted and counts.failed == 0 and (report.gain or 0) > 0
    )
    drifted = [s.name for s in monitor.statistics if s.verdict == "drift"]
    return scenario_result(
        SCENARIO,
        f"{len(split.feedback)} shifted texts labelled back, {len(split.held_out)} held out; "
        f"retrained ({settings.preset}) and rolled out under {CLIENTS} clients",
        GOAL,
        counts,
        seconds.get("rollout"),
        passed,
        f"held-out shifted accuracy {before.accuracy:.3f} (v{champion}) -> "
        f"{report.after.accuracy:.3f} (v{target}), gain {report.gain:+.3f}; monitor: "
        f"{monitor.verdict} ({', '.join(drifted) or 'no statistic drifted'}); "
        f"{accepted} of {len(ids)} labels accepted; v{trained.version} "
        f"{'passed' if trained.gate.passed else 'failed'} the gate; rollout "
        f"{report.rollout or 'not started'}; report {folder / 'loop.json'}",
    )


# The challenger's own evaluation (on the merged snapshot's test split) kept in loop.json.
_METRICS = {"accuracy", "macro_f1", "latency_p50_ms"}


def _plot(report: LoopReport, path: Path) -> None:
    """Held-out accuracy before and after, next to the stream's drift statistics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    bars = {f"v{report.champion_before}\nbefore": report.before.accuracy}
    if report.after is not None:
        bars[f"v{report.champion_after}\nafter"] = report.after.accuracy
    left.bar(list(bars), list(bars.values()), color=["#999999", "#2a7ab0"][: len(bars)])
    left.set_ylim(0, 1)
    left.set_title(f"{report.model}: held-out shifted accuracy\n({report.before.texts} texts)")
    for i, value in enumerate(bars.values()):
        left.text(i, value + 0.02, f"{value:.3f}", ha="center")
    stats = {k.split(" (")[0]: v for k, v in report.drift.items() if v is not None}
    right.barh(list(stats), list(stats.values()), color="#c0504d")
    right.set_title(f"drift on the stream: {report.drift_verdict}")
    right.set_xlim(0, max([1.0, *stats.values()]))
    right.set_xlabel("PSI / KS statistic")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
