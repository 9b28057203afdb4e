"""Segment alignment, description and typing: hand-made records, a scripted LLM, and the real pairs."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml

from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.evidence import SegmentEvidence
from podcast_assets.core.analysis.llm_typer import BATCH_SIZE, SegmentTypingReply, TypedSegment, llm_typer
from podcast_assets.core.analysis.local_typer import LOCAL_TYPER, local_typer, section_type_prior
from podcast_assets.core.analysis.models import SEGMENT_TYPES, AlignedSegments
from podcast_assets.core.analysis.segmentation import segment_transcript
from podcast_assets.core.ingest.models import (
    BBox,
    DocumentGraph,
    Figure,
    KeyConcept,
    Section,
    TextAtom,
)
from podcast_assets.core.llm import CallRecord, LLMResponseError, load_prompt, validate_reply
from podcast_assets.core.metrics import time_weighted_typing_accuracy
from podcast_assets.core.text import find_analogies, find_questions
from tests.conftest import PROJECT_ROOT
from tests.core.test_segmentation import transcription

BOX = BBox(x0=0, y0=0, x1=100, y1=20)
LABELLED_PAIR = "kd-survey-notebookllama-ollama"
LABELS = PROJECT_ROOT / "tests" / "data" / f"{LABELLED_PAIR}.labels.yaml"


# --------------------------------------------------------------------------- hand-made records


def atom(i: int, text: str, section: str | None = None, kind: str = "paragraph") -> TextAtom:
    return TextAtom(id=f"p01-b{i:03d}", text=text, page=1, bbox=BOX, section_id=section, kind=kind)  # type: ignore[arg-type]


def graph(*, sections: bool = True) -> DocumentGraph:
    atoms = [
        atom(
            1,
            "We train a convolutional encoder with a contrastive objective on paired images and captions.",
            "s2",
        ),
        atom(
            2,
            "The encoder uses tiled attention so memory grows linearly with the batch size of the model.",
            "s2",
        ),
        atom(
            3,
            "Results show the tiled encoder reaches higher retrieval accuracy than the baseline on three benchmarks.",
            "s3",
        ),
        atom(
            4,
            "Figure 2: Retrieval accuracy against batch size for the tiled encoder and the baseline.",
            "s3",
            "caption",
        ),
        atom(
            5,
            "Smith J. Contrastive encoders for everything. Journal of Tiles, 2020, pages 1 to 20.",
            None,
            "reference",
        ),
    ]
    return DocumentGraph(
        pdf_sha256="0" * 64,
        extractor_version="test",
        page_count=1,
        title="Tiled contrastive encoders",
        sections=[
            Section(id="s2", title="2 Method", level=1, page=1, atom_ids=["p01-b001", "p01-b002"]),
            Section(id="s3", title="3 Experiments", level=1, page=1, atom_ids=["p01-b003", "p01-b004"]),
        ]
        if sections
        else [],
        atoms=atoms if sections else [a.model_copy(update={"section_id": None}) for a in atoms],
        figures=[
            Figure(
                id=f"fig-{n}",
                number=n,
                caption=caption,
                page=1,
                bbox=BOX,
                image_path="",
                width_px=10,
                height_px=10,
            )
            for n, caption in ((1, "Figure 1: Overview of the pipeline."), (2, atoms[3].text))
        ],
        key_concepts=[
            KeyConcept(phrase="contrastive objective", score=3.0, frequency=2),
            KeyConcept(phrase="tiled attention", score=2.0, frequency=2),
            KeyConcept(phrase="retrieval accuracy", score=1.0, frequency=2),
        ],
    )


PODCAST = [
    (0.0, 14.0, "Welcome to the show! Today we're diving into a paper on tiled contrastive encoders."),
    (14.5, 29.0, "So how does it work? They trained a convolutional encoder with a contrastive objective."),
    (
        29.5,
        44.0,
        "The encoder uses tiled attention, so memory grows linearly. Think of it as cutting a pizza into slices.",
    ),
    (44.5, 59.0, "And the results show higher retrieval accuracy than the baseline, as figure 2 shows."),
    (59.5, 74.0, "Is it perfect? However there is a caveat: the benchmarks are small, a real limitation."),
    (74.5, 88.0, "That's all for today. Thanks for listening, and goodbye!"),
]


def test_hand_made_pair_is_aligned_described_and_typed() -> None:
    result = analyse_pair("toy", transcription(PODCAST), graph(), min_s=10, max_s=20, target_s=14)
    assert result.classifier == LOCAL_TYPER
    segments = result.segments
    assert len(segments) == len(PODCAST)
    assert segments[0].type == "intro" and segments[-1].type == "conclusion"
    method, explained, finding = segments[1], segments[2], segments[3]
    assert method.primary_atoms[0] == "p01-b001" and method.type == "methodology"
    assert explained.key_concepts == ["tiled attention"] and explained.analogies
    assert finding.referenced_figures == ["fig-2"] and finding.key_concepts == ["retrieval accuracy"]
    assert segments[4].type == "limitation"
    assert all("p01-b005" not in s.primary_atoms for s in segments)
    assert result.concept_coverage == 1.0
    for s in segments:
        assert s.type_confidence == max(s.type_scores.values())
        assert abs(sum(s.type_scores.values()) - 1) < 1e-3 and set(s.type_scores) == set(SEGMENT_TYPES)
        assert s.words_per_minute > 0 and s.word_count == len(s.text.split())


def test_technical_terms_are_rare_words_the_paper_uses() -> None:
    result = analyse_pair("toy", transcription(PODCAST), graph(), min_s=10, max_s=20, target_s=14)
    terms = {t for s in result.segments for t in s.technical_terms}
    assert {"convolutional", "encoder"} <= terms
    assert not terms & {"pizza", "slices", "show", "benchmarks"}


def test_paper_without_sections_still_aligns_and_types() -> None:
    result = analyse_pair(
        "toy", transcription(PODCAST), graph(sections=False), min_s=10, max_s=20, target_s=14
    )
    assert len(result.segments) == len(PODCAST)
    assert result.mean_alignment > 0.1
    assert result.segments[0].type == "intro" and result.segments[-1].type == "conclusion"


def test_empty_transcription_and_empty_paper_give_warnings_not_crashes() -> None:
    empty_paper = DocumentGraph(pdf_sha256="0" * 64, extractor_version="test", page_count=1, title="")
    result = analyse_pair("toy", transcription(PODCAST), empty_paper)
    assert result.mean_alignment == 0.0 and result.concept_coverage == 0.0
    assert len(result.warnings) == 2
    nothing = analyse_pair("toy", transcription([]), graph())
    assert nothing.segments == [] and "no words" in nothing.warnings[0]


def test_questions_and_analogies_are_whole_sentences() -> None:
    text = (
        "So what is a transformer? It's like a very attentive reader. Imagine a room of people passing notes. "
        "The model likes data. Why does that matter? Attention works similar to a spotlight. Nothing else."
    )
    assert find_questions(text) == ["So what is a transformer?", "Why does that matter?"]
    assert find_analogies(text) == [
        "It's like a very attentive reader.",
        "Imagine a room of people passing notes.",
        "Attention works similar to a spotlight.",
    ]


def test_section_titles_map_to_types() -> None:
    assert section_type_prior("3.2 Experimental Results") == {"key_finding": 0.8, "methodology": 0.2}
    assert section_type_prior("IV. Limitations") == {"limitation": 1.0}
    assert section_type_prior("2 Materials and Methods") == {"methodology": 1.0}
    assert section_type_prior("Wheat phenology in France") == {}


# --------------------------------------------------------------------------- the LLM typer


def evidence(n: int) -> list[SegmentEvidence]:
    return [
        SegmentEvidence(
            id=f"s{i + 1:03d}", start=10.0 * i, end=10.0 * i + 9, text=f"Text {i}.", audio_duration=10.0 * n
        )
        for i in range(n)
    ]


class ScriptedLLM:
    """complete_json with LLMResource's signature, validating a scripted reply the way the resource does."""

    def __init__(self, reply: object):
        self.reply = reply
        self.calls: list[dict] = []

    def __call__(
        self, *, task: str, system: str, prompt: str, schema: type, prompt_version: str | None = None
    ):
        self.calls.append(
            {"task": task, "system": system, "prompt": prompt, "prompt_version": prompt_version}
        )
        record = CallRecord(
            task=task, provider="fake", model="fake-model", prompt_version=prompt_version, input_tokens=100,
            output_tokens=20, cost_usd=0.001, cached=False, attempts=1, seconds=0.1,
        )  # fmt: skip
        reply = self.reply(prompt) if callable(self.reply) else self.reply
        if isinstance(reply, SegmentTypingReply):
            return reply, record
        try:
            return validate_reply(json.dumps(reply), schema), record
        except ValueError as exc:
            raise LLMResponseError(f"{task}: {exc}", record=record) from None


def labels_for(prompt: str) -> dict:
    """A well-formed reply labelling every segment id in the prompt `methodology`."""
    ids = [line[1:5] for line in prompt.splitlines() if line.startswith("[s")]
    return {"segments": [{"segment_id": i, "type": "methodology", "confidence": 0.8} for i in ids]}


@pytest.fixture(scope="module")
def template():
    return load_prompt(PROJECT_ROOT / "prompts", "segment_typing")


def test_llm_typer_batches_and_keeps_records(template) -> None:
    fake = ScriptedLLM(labels_for)
    typer = llm_typer(fake, template)
    count = BATCH_SIZE + 5  # one full batch and a partial one
    result = typer(evidence(count), graph())
    assert [label.type for label in result.labels] == ["methodology"] * count
    assert result.classifier == "llm:fake-model"
    assert len(fake.calls) == 2 and len(result.records) == 2 and typer.records == list(result.records)
    first, second = fake.calls
    assert first["task"] == "segment_typing" and first["prompt_version"] == template.ref
    assert "<<<SEGMENTS " in first["prompt"] and "<<<PAPER_OUTLINE " in first["prompt"]
    last_of_first = f"[s{BATCH_SIZE:03d}]"
    assert last_of_first in first["prompt"] and f"[s{BATCH_SIZE + 1:03d}]" not in first["prompt"]
    assert f"[s{BATCH_SIZE + 1:03d}]" in second["prompt"] and f"[s{count:03d}]" in second["prompt"]
    assert last_of_first not in second["prompt"] and "$" not in first["prompt"]


def test_llm_typer_result_goes_into_the_aligned_segments(template) -> None:
    typer = llm_typer(ScriptedLLM(labels_for), template)
    result = analyse_pair(
        "toy", transcription(PODCAST), graph(), typer=typer, min_s=10, max_s=20, target_s=14
    )
    assert result.classifier == "llm:fake-model"
    assert {s.type for s in result.segments} == {"methodology"}
    assert result.segments[0].type_scores == {"methodology": 0.8}
    assert len(typer.records) == 1


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"segments": [{"segment_id": "s001", "type": "methodology", "confidence": 0.5},
                       {"segment_id": "s009", "type": "methodology", "confidence": 0.5}]}, "segment_id"),
        ({"segments": [{"segment_id": "s001", "type": "methodology", "confidence": 0.5}]}, "missing segment id"),
        ({"segments": [{"segment_id": "s001", "type": "recap", "confidence": 0.5},
                       {"segment_id": "s002", "type": "methodology", "confidence": 0.5}]}, "type"),
        (SegmentTypingReply.model_construct(segments=[
            TypedSegment.model_construct(segment_id="s001", type="methodology", confidence=0.5),
            TypedSegment.model_construct(segment_id="s001", type="recap", confidence=0.5)]),
         "missing segment id.*s002.*repeated segment id.*s001.*unknown segment type.*recap"),
    ],
    ids=["unknown-id", "missing-id", "unknown-type", "unvalidated-reply"],
)  # fmt: skip
def test_llm_typer_refuses_replies_that_do_not_match(template, reply, message) -> None:
    typer = llm_typer(ScriptedLLM(reply), template)
    with pytest.raises(LLMResponseError, match=message):
        typer(evidence(2), graph())
    assert len(typer.records) == 1


# --------------------------------------------------------------------------- the real pairs


@pytest.fixture(scope="module")
def cross(real_pairs) -> dict[tuple[str, str], AlignedSegments]:
    """Every transcript analysed against every paper: (transcript pair, paper pair) -> result."""
    return {
        (t, p): analyse_pair(t, real_pairs[t][0], real_pairs[p][1]) for t in real_pairs for p in real_pairs
    }


def test_segment_durations_within_bounds_on_real_transcripts(real_pairs) -> None:
    for pair_id, (result, _) in real_pairs.items():
        paragraphs = segment_transcript(result)
        durations = [p.duration for p in paragraphs]
        print(f"\n{pair_id}: {len(durations)} segments, {min(durations):.1f}-{max(durations):.1f} s")
        assert len(paragraphs) >= 3
        assert all(10.0 <= d <= 60.0 for d in durations[:-1]), (pair_id, durations)
        assert [w for p in paragraphs for w in p.words] == result.words


def test_each_transcript_aligns_best_to_its_own_paper(cross, real_pairs) -> None:
    if len(real_pairs) < 2:
        pytest.skip(f"needs at least 2 real pairs to compare a transcript across papers, found {len(real_pairs)} "
                    "(../shared/data/pairs holds four)")
    pairs = sorted(real_pairs)
    print("\nmean_alignment / concept_coverage (rows: transcript, columns: paper)")
    for t in pairs:
        print(
            f"{t[:12]:>12} "
            + " ".join(f"{cross[t, p].mean_alignment:.3f}/{cross[t, p].concept_coverage:.2f}" for p in pairs)
        )
    for t in pairs:
        own = cross[t, t]
        others = [cross[t, p] for p in pairs if p != t]
        assert own.mean_alignment > max(o.mean_alignment for o in others), t
        assert own.concept_coverage > max(o.concept_coverage for o in others), t
        # and by the margin the pair check needs: its own paper passes, every other paper fails
        assert own.match.passed, (t, own.match.description)
        assert not any(o.match.passed for o in others), t


@pytest.mark.parametrize(
    "labelled_pair",
    [
        LABELLED_PAIR,  # in sample: the local typer was tuned on it
        "finmarket-network-forecast-podcastfy",  # held out: never used for tuning (tests/data/README.md)
    ],
)
def test_local_typer_beats_the_majority_label_on_the_labelled_pairs(cross, real_pairs, labelled_pair) -> None:
    if labelled_pair not in real_pairs:
        pytest.skip(f"{labelled_pair} is not among the shared pairs")
    labels = yaml.safe_load((LABELS.parent / f"{labelled_pair}.labels.yaml").read_text())
    duration = real_pairs[labelled_pair][0].duration
    assert labels[0]["start"] == 0 and abs(labels[-1]["end"] - duration) < 1.0
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(labels))
    assert {label["type"] for label in labels} <= set(SEGMENT_TYPES)

    segments = cross[labelled_pair, labelled_pair].segments
    score = time_weighted_typing_accuracy(
        [(s.start, s.end, s.type) for s in segments], [(lb["start"], lb["end"], lb["type"]) for lb in labels]
    )
    accuracy, baseline = score.accuracy, score.majority_baseline
    print(f"\n{labelled_pair}: local typer time-weighted accuracy {accuracy:.3f}, "
          f"always-{score.majority_label} {baseline:.3f}")
    assert accuracy >= baseline + 0.08


def test_local_typer_is_the_default_and_explains_its_scores(cross) -> None:
    """Every real segment's type_scores are a distribution over all 11 types whose argmax is the type chosen,
    with that score as its confidence."""
    checked = 0
    for (t, p), result in cross.items():
        assert result.classifier == LOCAL_TYPER, (t, p)
        for s in result.segments:
            scores = s.type_scores
            assert set(scores) == set(SEGMENT_TYPES), (t, p, s.id)
            assert all(0 <= v <= 1 for v in scores.values()), (t, p, s.id)
            assert abs(sum(scores.values()) - 1) <= len(SEGMENT_TYPES) * 5e-5, (t, p, s.id)  # rounded to 4 places
            assert scores[s.type] == max(scores.values()), (t, p, s.id, s.type, scores)
            assert s.type_confidence == scores[s.type], (t, p, s.id)
            checked += 1
    assert checked >= 3 * len(cross)
    empty = local_typer([], DocumentGraph(pdf_sha256="0" * 64, extractor_version="t", page_count=1, title=""))
    assert empty.classifier == LOCAL_TYPER and empty.labels == ()


def test_local_typer_scores_move_with_the_evidence() -> None:
    """A conclusion cue raises the conclusion score; so does the same segment moved to the episode's end."""
    paper = graph()
    plain = "They trained the encoder on paired images and captions with a contrastive objective."
    cued = plain + " Thanks for listening, and goodbye!"

    def conclusion_score(text: str, start: float, duration: float = 600.0) -> float:
        seg = SegmentEvidence(id="s001", start=start, end=start + 25, text=text, audio_duration=duration)
        [label] = local_typer([seg], paper).labels
        return label.scores["conclusion"]

    near_the_end = 600.0 - 30
    assert conclusion_score(cued, near_the_end) > conclusion_score(plain, near_the_end)
    assert conclusion_score(cued, near_the_end) > conclusion_score(cued, 200.0)
    assert conclusion_score(plain, near_the_end) > conclusion_score(plain, 200.0)
    seg = SegmentEvidence(id="s001", start=near_the_end, end=600.0 - 5, text=cued, audio_duration=600.0)
    [label] = local_typer([seg], paper).labels
    assert label.type == "conclusion", label.scores
