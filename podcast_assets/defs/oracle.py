"""The oracle (the configured LLM with the segment_typing prompt) calibrated against the hand labels
(`oracle_calibration`, with its check), and, once it passed a calibration round and a fresh one, labelling every
pair's segments at scale (`oracle_labels`); the local typer learned from the trusted labels, evaluated, exported to
ONNX and stored with its card (`distilled_models`). `podcast-assets oracle calibrate|label` runs them; so does the UI, with
the run config below. The logic is core/oracle/."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import dagster as dg
from pydantic import Field

from podcast_assets.core.analysis.evidence import SegmentEvidence
from podcast_assets.core.analysis.learned_typer import LabelledEpisode, fit, leave_one_pair_out
from podcast_assets.core.analysis.llm_typer import llm_typer
from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.analysis.typer_export import (
    OnnxTyper,
    card_for,
    confusion_png,
    export_onnx,
    parity,
    typer_folder,
)
from podcast_assets.core.config import OracleSettings
from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.oracle.calibration import (
    CalibrationReport,
    TrustedSegment,
    fresh_exclusions,
    labelled_pairs,
    load_labels,
    may_label_at_scale,
    past_reports,
    report_path,
    run_round,
    trusted_segments,
    with_reviewed,
)
from podcast_assets.core.oracle.labelling import label_at_scale, labels_path
from podcast_assets.core.previews import png_markdown
from podcast_assets.core.storage import LocalArtifactStore, sha256_bytes
from podcast_assets.core.tracking import typer_run
from podcast_assets.defs.analysis import SEGMENT_TYPING, aligned_segments, aligned_segments_path
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.ingest import document_graph_path, transcription_path
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.llm import LLMResource
from podcast_assets.resources.oracle import OracleSettingsResource
from podcast_assets.resources.review import ReviewStoreResource
from podcast_assets.resources.storage import ArtifactStoreResource
from podcast_assets.resources.tracking import TrackingResource

CALIBRATION_CHECK = "oracle_passes"
TASK = "segment_typing"


class OracleCalibrationConfig(dg.Config):
    task: Literal["segment_typing"] = TASK
    sample: int | None = Field(default=None, ge=1, description="Segments in the sample (default: oracle.sample).")
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


@dataclass(frozen=True)
class _Labelled:
    pair_id: str
    evidence: list[SegmentEvidence]
    graph: DocumentGraph
    duration: float
    spans: list[tuple[float, float, str]]
    trusted: list[TrustedSegment]


def _labelled_episodes(context, store: LocalArtifactStore, settings: OracleSettings, review: ReviewStoreResource) -> list[_Labelled]:
    """Every pair with trusted labels (a hand-labels file, and the review page's types over it) and its segments."""
    files = labelled_pairs(settings.labels_dir)
    reviewed = review.open().type_labels()
    labelled = sorted(set(files) | set(reviewed))
    ready = [p for p in labelled if store.exists(aligned_segments_path(p))]
    for missing in sorted(set(labelled) - set(ready)):
        context.log.warning(f"{missing}: hand-labelled, but its segments are not made yet: left out")
    if not ready:
        raise PodcastAssetsError(
            f"no hand-labelled pair has its aligned segments ({len(files)} labels file(s) in {settings.labels_dir}, "
            f"{len(reviewed)} pair(s) typed on the review page)",
            path=settings.labels_dir,
            fix="put <pair_id>.labels.yaml files here for pairs of the pairs folder, and run "
            "`podcast-assets train --no-trials` so their segments are made",
        )
    found = []
    for pair_id in ready:
        evidence, graph = _episode(store, pair_id)
        hand = load_labels(files[pair_id]) if pair_id in files else []
        labels = with_reviewed(hand, reviewed.get(pair_id, []))
        found.append(_Labelled(pair_id=pair_id, evidence=evidence, graph=graph,
                               duration=evidence[-1].audio_duration if evidence else 0.0,
                               spans=[(lb.start, lb.end, lb.type) for lb in labels],
                               trusted=trusted_segments(pair_id, evidence, labels)))  # fmt: skip
    return found


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
    review: ReviewStoreResource,
):
    """One calibration round of the oracle against the hand labels (and the types given on the review page): a stratified sample (types, pairs, short and
    mixed segments) of the labelled pairs' segments, labelled by the configured LLM with the segment_typing prompt,
    its agreement, per-type precision, recall and F1, the confusion, what it cost, and PASS / REVIEW / FAIL by the
    thresholds of configs/pipeline.yaml `oracle.segment_typing`."""
    store = artifacts.open()
    settings = oracle.settings()
    with user_errors_fail_the_partition():
        identity = _identity(llm)
        episodes = _labelled_episodes(context, store, settings, review)
        trusted = [item for e in episodes for item in e.trusted]
        graphs = {e.pair_id: e.graph for e in episodes}
        durations = {e.pair_id: e.duration for e in episodes}
        reports = past_reports(store, TASK, **identity)
        exclude: set[str] = set()
        if config.fresh:
            tested, exclude = fresh_exclusions(reports)
            if config.seed == tested.seed:
                raise PodcastAssetsError(
                    f"a fresh round needs another seed than the calibration round it tests (seed {tested.seed})",
                    fix=f"pass --seed {tested.seed + 1} (or any other)",
                )
        size = settings.sample if config.sample is None else config.sample
        context.log.info(f"calibrating {identity['provider']}:{identity['model']} with {identity['prompt_version']} "
                         f"on {size} of {len(trusted)} trusted segments of {len(episodes)} pair(s)")  # fmt: skip
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
        episodes = lambda: {p: _episode(store, p) for p in pair_ids}  # noqa: E731
        labels = label_at_scale(reports, episodes, llm_typer(_budgeted(llm), SEGMENT_TYPING), identity=identity,
                                seed=config.seed, now=_now(), progress=context.log.info)  # fmt: skip
        rel = store.write_model(labels_path(identity), labels)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            "segments": len(labels.labels),
            "pairs": len(labels.pairs),
            "calibrated": labels.calibrated,
            "parts": dg.MetadataValue.json(labels.parts),
            **labels.usage.as_metadata(),
        }
    )


PARITY_CHECK = "onnx_matches_sklearn"


def _per_type_markdown(evaluation) -> str:
    lines = ["| held out | segments | cue typer | learned typer | majority type |", "|---|---|---|---|---|"]
    lines += [f"| {f.pair_id} | {f.segments} | {f.cue:.1%} | {f.learned:.1%} | {f.majority:.1%} |" for f in evaluation.folds]
    lines += [f"| **mean** | | **{evaluation.cue:.1%}** | **{evaluation.learned:.1%}** | {evaluation.majority:.1%} |", "",
              "| type | segments | F1 (learned, held out) |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {t.type} | {t.support} | {t.f1:.2f} |" for t in evaluation.per_type]
    return "\n".join(lines)


@dg.asset(
    group_name="oracle",
    deps=[aligned_segments],
    check_specs=[
        dg.AssetCheckSpec(
            PARITY_CHECK,
            asset="distilled_models",
            description="The ONNX typer labels every trusted segment as the scikit-learn typer does.",
        )
    ],
)
def distilled_models(
    context: dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    oracle: OracleSettingsResource,
    review: ReviewStoreResource,
    tracking: TrackingResource,
):
    """The local segment typer learned from the trusted labels (core/analysis/learned_typer.py): evaluated
    leave-one-pair-out beside the cue typer (accuracy per held-out pair, per-type F1, the confusion as a picture),
    fitted on every labelled pair, exported to ONNX and checked against scikit-learn on every trusted segment, and
    stored by content address with its card (classes, sequence layer, lineage, evaluation). It is not the offline
    default unless it beats the cue typer (the card's beats_cue_typer). Each model is logged to MLflow as a run."""
    store = artifacts.open()
    with user_errors_fail_the_partition():
        episodes = [
            LabelledEpisode(pair_id=e.pair_id, evidence=[ev for ev in e.evidence if ev.id in ids], graph=e.graph,
                            spans=e.spans, labels=[t.label for t in e.trusted])  # fmt: skip
            for e in _labelled_episodes(context, store, oracle.settings(), review)
            if (ids := {t.segment_id for t in e.trusted})
        ]
        if len(episodes) < 2:
            raise PodcastAssetsError(
                f"the typer is evaluated leave-one-pair-out, and {len(episodes)} pair has trusted labels",
                fix="hand-label another pair (oracle.labels_dir) or type its segments on the review page",
            )
    context.log.info(f"fitting the typer leave-one-pair-out on {len(episodes)} pairs ...")
    evaluation = leave_one_pair_out(episodes)
    typer = fit([(e.evidence, e.graph, e.labels) for e in episodes])
    onnx = export_onnx(typer)
    trained_on = {e.pair_id: sha256_bytes(json.dumps([[ev.id, ev.start, ev.end, ev.text] for ev in e.evidence]
                                                     + [list(s) for s in e.spans]).encode())[:16] for e in episodes}  # fmt: skip
    draft = card_for(typer, onnx, trained_on=trained_on, segments=sum(len(e.labels) for e in episodes),
                     evaluation=evaluation, beats_cue_typer=evaluation.learned > evaluation.cue, parity_segments=0,
                     created_at=_now())  # fmt: skip
    served = OnnxTyper.load(onnx, draft)
    same, differ = parity(typer, served, [(e.evidence, e.graph) for e in episodes])
    card = draft.model_copy(update={"parity_segments": same})
    folder = typer_folder(card.model_sha256)
    if not store.exists(f"{folder}/model.onnx"):
        store.write_bytes(f"{folder}/model.onnx", onnx)
    rel = store.write_model(f"{folder}/card.json", card)
    confusion = confusion_png(evaluation)
    logged = tracking.log([typer_run(card, {"card.json": store.read_bytes(rel), "confusion.png": confusion})],
                          context.log.info)  # fmt: skip
    if logged.error:
        context.log.warning(f"MLflow tracking at {tracking.uri} failed: {logged.error}; the model is stored all the same")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            "mlflow": tracking.where(logged),
            "model_sha256": card.model_sha256,
            "pairs": len(episodes),
            "segments": card.segments,
            "cue_typer_accuracy": evaluation.cue,
            "learned_typer_accuracy": evaluation.learned,
            "learned_macro_f1": evaluation.macro_f1,
            "cue_macro_f1": evaluation.cue_macro_f1,
            "beats_cue_typer": card.beats_cue_typer,
            "leave_one_pair_out": dg.MetadataValue.md(_per_type_markdown(evaluation)),
            "confusion": dg.MetadataValue.md(
                png_markdown("Hand label against the learned typer, seconds, each pair held out", confusion,
                             "confusion matrix")  # fmt: skip
            ),
            "top_features": dg.MetadataValue.json(typer.top_features()),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=PARITY_CHECK,
                passed=not differ,
                description=f"same labels on {same} of {same + len(differ)} trusted segments"
                + (f"; differ on {', '.join(differ[:10])}" if differ else ""),
            )
        ],
    )
