"""The oracle (the configured LLM with the segment_typing prompt) calibrated against the hand labels
(`oracle_calibration`, with its check), and, once it passed a calibration round and a fresh one, labelling every
pair's segments at scale (`oracle_labels`). `podcast-assets oracle calibrate|label` runs them; so does the UI, with
the run config below. The logic is core/oracle/."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import dagster as dg
from pydantic import Field

from podcast_assets.core.analysis.evidence import SegmentEvidence
from podcast_assets.core.analysis.llm_typer import llm_typer
from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.oracle.calibration import (
    CalibrationReport,
    fresh_exclusions,
    labelled_pairs,
    load_labels,
    may_label_at_scale,
    past_reports,
    report_path,
    run_round,
    trusted_segments,
)
from podcast_assets.core.oracle.labelling import label_at_scale
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.defs.analysis import SEGMENT_TYPING, aligned_segments, aligned_segments_path
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.ingest import document_graph_path, transcription_path
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.llm import LLMResource
from podcast_assets.resources.oracle import OracleSettingsResource
from podcast_assets.resources.storage import ArtifactStoreResource

CALIBRATION_CHECK = "oracle_passes"
TASK = "segment_typing"


class OracleCalibrationConfig(dg.Config):
    task: Literal["segment_typing"] = TASK
    sample: int | None = Field(default=None, description="Segments in the sample (default: oracle.sample).")
    seed: int = Field(default=0, description="Seed of the stratified sample.")
    fresh: bool = Field(
        default=False,
        description="A fresh round: a sample disjoint from every earlier round's, with another seed than the last "
        "calibration round's. Bulk labelling needs a passed calibration round and a passed fresh round after it.",
    )


class OracleLabelsConfig(dg.Config):
    task: Literal["segment_typing"] = TASK
    seed: int = Field(default=0, description="Seed of the stratified train/validation/test split.")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _identity(llm: LLMResource) -> dict[str, str]:
    if not llm.enabled:
        raise PodcastAssetsError(
            "the oracle is the configured LLM, and llm.provider is 'local'",
            fix="set llm.provider and llm.model in configs/pipeline.yaml (any OpenAI-compatible server will do)",
        )
    return {"provider": llm.provider, "model": llm.model, "prompt_version": SEGMENT_TYPING.ref}


def _budgeted(llm: LLMResource) -> Callable[..., object]:
    """complete_json, told what this run spent so far, so llm's budget_usd caps the whole run."""
    spent = [0.0]

    def complete_json(**kwargs):
        reply, record = llm.complete_json(spent_usd=spent[0], **kwargs)
        spent[0] += record.cost_usd or 0.0
        return reply, record

    return complete_json


def _episode(store: LocalArtifactStore, pair_id: str) -> tuple[list[SegmentEvidence], DocumentGraph]:
    """The pair's segments as aligned_segments cut them, and its paper."""
    segments = store.read_model(aligned_segments_path(pair_id), AlignedSegments).segments
    duration = store.read_model(transcription_path(pair_id), TranscriptionResult).duration
    evidence = [
        SegmentEvidence(id=s.id, start=s.start, end=s.end, text=s.text, audio_duration=max(duration, s.end),
                        alignment_score=s.alignment_score, referenced_figures=tuple(s.referenced_figures))  # fmt: skip
        for s in segments
    ]
    return evidence, store.read_model(document_graph_path(pair_id), DocumentGraph)


def _markdown(report: CalibrationReport) -> str:
    a = report.agreement
    lines = ["| type | trusted | oracle | precision | recall | F1 |", "|---|---|---|---|---|---|"]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    lines += [f"| {t.type} | {t.support} | {t.predicted} | {fmt(t.precision)} | {fmt(t.recall)} | {fmt(t.f1)} |"
              for t in a.per_type]  # fmt: skip
    lines += ["", "confusion (trusted -> oracle, segments): "
              + "; ".join(f"{t} -> {o} {n}" for t, row in a.confusion.items() for o, n in row.items() if o != t)]  # fmt: skip
    return "\n".join(lines)


@dg.asset(
    group_name="oracle",
    deps=[aligned_segments],
    check_specs=[
        dg.AssetCheckSpec(
            CALIBRATION_CHECK,
            asset="oracle_calibration",
            description="The round's verdict is PASS (a REVIEW warns, a FAIL is an error).",
        )
    ],
)
def oracle_calibration(
    context: dg.AssetExecutionContext,
    config: OracleCalibrationConfig,
    artifacts: ArtifactStoreResource,
    llm: LLMResource,
    oracle: OracleSettingsResource,
):
    """One calibration round of the oracle against the hand labels: a stratified sample (types, pairs, short and
    mixed segments) of the labelled pairs' segments, labelled by the configured LLM with the segment_typing prompt,
    its agreement, per-type precision, recall and F1, the confusion, what it cost, and PASS / REVIEW / FAIL by the
    thresholds of configs/pipeline.yaml `oracle.segment_typing`."""
    store = artifacts.open()
    settings = oracle.settings()
    with user_errors_fail_the_partition():
        identity = _identity(llm)
        files = labelled_pairs(settings.labels_dir)
        ready = [p for p in files if store.exists(aligned_segments_path(p))]
        for missing in sorted(set(files) - set(ready)):
            context.log.warning(f"{missing}: hand-labelled, but its segments are not made yet: left out")
        if not ready:
            raise PodcastAssetsError(
                f"no hand-labelled pair has its aligned segments ({len(files)} labels file(s) in {settings.labels_dir})",
                path=settings.labels_dir,
                fix="put <pair_id>.labels.yaml files here for pairs of the pairs folder, and run "
                "`podcast-assets train --no-trials` so their segments are made",
            )
        trusted, graphs, durations = [], {}, {}
        for pair_id in ready:
            evidence, graphs[pair_id] = _episode(store, pair_id)
            durations[pair_id] = evidence[-1].audio_duration if evidence else 0.0
            trusted += trusted_segments(pair_id, evidence, load_labels(files[pair_id]))
        reports = past_reports(store, TASK, **identity)
        exclude: set[str] = set()
        if config.fresh:
            tested, exclude = fresh_exclusions(reports)
            if config.seed == tested.seed:
                raise PodcastAssetsError(
                    f"a fresh round needs another seed than the calibration round it tests (seed {tested.seed})",
                    fix=f"pass --seed {tested.seed + 1} (or any other)",
                )
        size = config.sample or settings.sample
        context.log.info(f"calibrating {identity['provider']}:{identity['model']} with {identity['prompt_version']} "
                         f"on {size} of {len(trusted)} trusted segments of {len(ready)} pair(s)")  # fmt: skip
        typer = llm_typer(_budgeted(llm), SEGMENT_TYPING)
        report = run_round(trusted, graphs, durations, typer, size=size, seed=config.seed,
                           round="fresh" if config.fresh else "calibration", thresholds=settings.segment_typing,
                           exclude=exclude, identity=identity, now=_now())  # fmt: skip
        rel = store.write_model(report_path(report), report)
    allowed, why = may_label_at_scale([*reports, report])
    a = report.agreement
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            "verdict": report.verdict,
            "round": report.round,
            "seed": report.seed,
            "segments": a.items,
            "agreement": a.agreement,
            "seconds_agreement": a.seconds_agreement,
            "macro_f1": a.macro_f1,
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in report.reasons)),
            "per_type": dg.MetadataValue.md(_markdown(report)),
            "strata": dg.MetadataValue.json(report.strata),
            "may_label_at_scale": allowed,
            "why": why,
            **report.usage.as_metadata(),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CALIBRATION_CHECK,
                passed=report.verdict == "PASS",
                severity=dg.AssetCheckSeverity.WARN if report.verdict == "REVIEW" else dg.AssetCheckSeverity.ERROR,
                description=f"{report.verdict}: {report.reasons[0]}",
            )
        ],
    )


def oracle_labels_path(identity: dict[str, str]) -> str:
    slug = "".join(c if c.isalnum() or c in "-._" else "-" for c in f"{identity['provider']}-{identity['model']}")
    return f"oracle/{TASK}/labels/{identity['prompt_version'].replace('/', '-')}/{slug}.json"


@dg.asset(group_name="oracle", deps=[oracle_calibration])
def oracle_labels(
    context: dg.AssetExecutionContext,
    config: OracleLabelsConfig,
    artifacts: ArtifactStoreResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    """Every pair's segments typed by the calibrated oracle (refused until it passed a calibration round and a fresh
    one), split 80/10/10 train/validation/test type by type. Calls are cached: a re-run resumes for free."""
    store = artifacts.open()
    with user_errors_fail_the_partition():
        identity = _identity(llm)
        reports = past_reports(store, TASK, **identity)
        pair_ids = [p for p in context.instance.get_dynamic_partitions(training_pairs.name)
                    if store.exists(aligned_segments_path(p))]  # fmt: skip
        episodes = {p: _episode(store, p) for p in pair_ids} if may_label_at_scale(reports)[0] else {}
        labels = label_at_scale(reports, episodes, llm_typer(_budgeted(llm), SEGMENT_TYPING), identity=identity,
                                seed=config.seed, now=_now(), progress=context.log.info)  # fmt: skip
        rel = store.write_model(oracle_labels_path(identity), labels)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            "segments": len(labels.labels),
            "pairs": len(episodes),
            "calibrated": labels.calibrated,
            "parts": dg.MetadataValue.json(labels.parts),
            **labels.usage.as_metadata(),
        }
    )
