"""Segment alignment, description and typing: hand-made records, a scripted LLM, and the real pairs."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml

from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.evidence import SegmentEvidence
from podcast_assets.core.analysis.llm_typer import SegmentTypingReply, TypedSegment, llm_typer
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
    TranscriptionResult,
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
    result = typer(evidence(25), graph())
    assert [label.type for label in result.labels] == ["methodology"] * 25
    assert result.classifier == "llm:fake-model"
    assert len(fake.calls) == 2 and len(result.records) == 2 and typer.records == list(result.records)
    first = fake.calls[0]
    assert first["task"] == "segment_typing" and first["prompt_version"] == "segment_typing/v1"
    assert "<<<SEGMENTS " in first["prompt"] and "<<<PAPER_OUTLINE " in first["prompt"]
    assert "[s020]" in first["prompt"] and "[s021]" not in first["prompt"] and "$" not in first["prompt"]


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
def real_pairs(ingested) -> dict[str, tuple[TranscriptionResult, DocumentGraph]]:
    """Every real pair's transcription and document graph, as the ingest assets stored them."""
    from podcast_assets.core.storage import LocalArtifactStore
    from podcast_assets.defs.ingest import document_graph_path, transcription_path

    config, results = ingested
    store = LocalArtifactStore(config.storage.root)
    return {
        pair_id: (
            store.read_model(transcription_path(pair_id), TranscriptionResult),
            store.read_model(document_graph_path(pair_id), DocumentGraph),
        )
        for pair_id in results
    }


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
        assert own.mean_alignment > 1.5 * max(o.mean_alignment for o in others), t
        assert own.concept_coverage > max(o.concept_coverage for o in others), t
        assert own.concept_coverage >= 0.3, t


def test_local_typer_beats_the_majority_label_on_the_labelled_pair(cross, real_pairs) -> None:
    if LABELLED_PAIR not in real_pairs:
        pytest.skip(f"{LABELLED_PAIR} is not among the shared pairs")
    labels = yaml.safe_load(LABELS.read_text())
    duration = real_pairs[LABELLED_PAIR][0].duration
    assert labels[0]["start"] == 0 and abs(labels[-1]["end"] - duration) < 1.0
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(labels))
    assert {label["type"] for label in labels} <= set(SEGMENT_TYPES)

    segments = cross[LABELLED_PAIR, LABELLED_PAIR].segments
    score = time_weighted_typing_accuracy(
        [(s.start, s.end, s.type) for s in segments], [(lb["start"], lb["end"], lb["type"]) for lb in labels]
    )
    accuracy, baseline = score.accuracy, score.majority_baseline
    print(f"\nlocal typer time-weighted accuracy {accuracy:.3f}, always-{score.majority_label} {baseline:.3f}")
    assert accuracy >= baseline + 0.08


def test_local_typer_is_the_default_and_explains_its_scores(cross) -> None:
    result = next(iter(cross.values()))
    again = local_typer([], DocumentGraph(pdf_sha256="0" * 64, extractor_version="t", page_count=1, title=""))
    assert result.classifier == LOCAL_TYPER and again.labels == ()
