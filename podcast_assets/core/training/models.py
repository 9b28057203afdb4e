"""Records of the training stage: generation settings, scripts, losses and trial items."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from podcast_assets.core.analysis.models import SegmentType
from podcast_assets.core.records import Record


class GenerationSettings(Record):
    """The numeric half of a script_writer prompt version: what the offline writer obeys and the LLM
    writer is told. Refinement changes these (offline) or the template body (LLM), never both silently."""

    words_per_minute: float = Field(
        default=150.0, gt=40, lt=400, description="Speaking rate the word budget is planned at."
    )
    type_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Multiplier per segment type on the aggregated profile's seconds for that type "
        "(missing = 1.0): the segment budget per type.",
    )
    concepts_per_segment: float = Field(
        default=2.0, ge=0, le=10, description="Key concepts a content segment names (at least)."
    )
    phrase_use: float = Field(
        default=0.5, ge=0, le=1, description="Share of type changes opened with a learned transition phrase."
    )
    questions_per_minute: float = Field(default=1.0, ge=0, le=10)
    analogies_per_minute: float = Field(default=0.3, ge=0, le=5)
    max_sentence_words: int = Field(
        default=28, ge=8, le=80, description="Paper sentences longer than this are split or skipped."
    )


class ScriptSegment(Record):
    type: SegmentType
    speaker: str = Field(description="Speaker label, e.g. 'host' or 'guest'.")
    text: str = Field(min_length=1)
    figures: list[str] = Field(default_factory=list, description="Figure ids of the paper it discusses.")
    concepts: list[str] = Field(default_factory=list, description="Key concepts it covers.")
    atoms: list[str] = Field(
        default_factory=list, description="Paper atom ids its sentences were written from (offline writer)."
    )


class Script(Record):
    """A podcast script, segment-typed. Written by the offline writer or an LLM, or edited by hand."""

    pair_id: str | None = Field(default=None, description="The training pair; None for a new paper.")
    title: str
    writer: str = Field(description="'offline-<version>' or 'llm:<provider>/<model>'.")
    prompt_version: str = Field(description="'script_writer/vN'.")
    target_seconds: float = Field(gt=0)
    target_words: int = Field(ge=1)
    speakers: list[str] = Field(min_length=1)
    segments: list[ScriptSegment] = Field(min_length=1)

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.segments)

    @property
    def word_count(self) -> int:
        return sum(len(s.text.split()) for s in self.segments)


class Losses(Record):
    """The seed's five losses (each 0 = perfect, 1 = worst, duration may exceed 1) and their weighted sum."""

    duration: float = Field(ge=0)
    coverage: float = Field(ge=0, le=1)
    structure: float = Field(ge=0, le=1)
    quality: float = Field(ge=0, le=1)
    rouge: float = Field(ge=0, le=1)
    semantic: float | None = Field(
        default=None, ge=0, le=1, description="1 - semantic similarity; in the total where its weight is > 0."
    )
    total: float = Field(ge=0)


class LossDetails(Record):
    """What each loss saw, so a reader can check it and a refiner can act on it."""

    generated_seconds: float
    reference_seconds: float
    concepts_covered: list[str]
    concepts_missed: list[str]
    concepts_named_only: list[str] = Field(
        default_factory=list,
        description="Missed concepts the script names, but only in sentences copied from the paper or bare.",
    )
    coverage_method: Literal["match", "llm-judge"]
    reference_types: list[str] = Field(description="Run-compressed segment types of the reference.")
    generated_types: list[str] = Field(
        description="Run-compressed types the project's analyser gives the generated audio's transcript."
    )
    writer_types: list[str] = Field(description="Run-compressed types the writer labelled (reported only).")
    sequence_similarity: float
    distribution_similarity: float
    quality_method: Literal["rubric", "llm-judge"]
    engagement: float = Field(ge=0, le=100)
    clarity: float = Field(ge=0, le=100)
    accuracy: float = Field(ge=0, le=100)
    quality_notes: dict[str, float] = Field(
        default_factory=dict, description="The rubric's measured inputs (or the judge's sub-scores)."
    )
    suggestions: list[str] = Field(default_factory=list)
    rouge_1: float
    rouge_2: float
    rouge_l: float
    semantic_similarity: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Cosine of the podcast's and the reference's embeddings (similarity.py).",
    )
    semantic_by_type: dict[str, float] = Field(
        default_factory=dict, description="The same per segment type both have."
    )


class SpeechReport(Record):
    """How the script became audio: passes of length correction and the round trip through the ASR."""

    voices: dict[str, str] = Field(description="Speaker label -> voice used (and how it differs).")
    passes: int = Field(ge=1, description="Times the script was spoken (1 + length corrections).")
    script_words: int = Field(ge=1, description="Words of the script finally spoken.")
    pass_seconds: list[float] = Field(description="Measured length after each pass.")
    audio_seconds: float = Field(gt=0, description="Measured from the written file.")
    synthesis_seconds: float = Field(ge=0, description="Wall time spent in TTS.")
    round_trip_wer: float = Field(
        ge=0, description="Word error rate of the ASR transcript against the script."
    )


class Finding(Record):
    """One check of a script (core/training/script_checks.py): what it found, and whether that is within its limit."""

    check: str
    count: int = Field(ge=0)
    limit: float | None = Field(description="The most the check allows (a share for copied and imbalance).")
    passed: bool
    examples: list[str] = Field(default_factory=list)


class ScriptChecks(Record):
    """Every check of one script (core/training/script_checks.py), and what a dialogue is measured by."""

    turns: int
    questions: int
    prompting_share: float = Field(description="Turns that ask or react, over all turns.")
    copied_share: float = Field(description="Words in runs of 12 or more copied from the paper.")
    largest_speaker_share: float
    findings: list[Finding]

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)

    def summary(self) -> str:
        failed = [f"copied {self.copied_share:.0%} of the words" if f.check == "copied" else f"{f.check} {f.count}"
                  for f in self.findings if not f.passed]  # fmt: skip
        return "all checks pass" if not failed else "failed: " + ", ".join(failed)


class TrialItem(Record):
    """One prompt version scored on one training pair."""

    pair_id: str
    trial_id: str
    prompt_version: str
    split: Literal["train", "validation"]
    key: str = Field(description="Content address of everything the item depends on.")
    script_path: str
    audio_path: str
    speech: SpeechReport
    losses: Losses
    details: LossDetails
    seconds: dict[str, float] = Field(description="Wall time per step (write, speak, round_trip, score).")
    llm_usd: float = Field(default=0.0, ge=0, description="Money spent on LLM calls for this item.")
    checks: ScriptChecks | None = Field(default=None, description="The script's nonsense checks.")


class CoverageJudgement(Record):
    """The coverage judge's answer (LLM path): which of the listed key concepts the script covers, and how deeply
    (0 = not at all, 1 = named, 2 = explained, 3 = explained with its role in the paper)."""

    levels: dict[str, int] = Field(description="Key concept -> depth level 0-3.")

    def covered(self, min_level: int = 1) -> list[str]:
        return [c for c, level in self.levels.items() if level >= min_level]


class QualityJudgement(Record):
    """The quality judge's answer (LLM path), or the offline rubric's: three scores out of 100."""

    method: Literal["rubric", "llm-judge"]
    engagement: float = Field(ge=0, le=100)
    clarity: float = Field(ge=0, le=100)
    accuracy: float = Field(ge=0, le=100)
    notes: dict[str, float] = Field(default_factory=dict, description="Measured inputs or sub-scores.")
    suggestions: list[str] = Field(default_factory=list)


class TrialEntry(Record):
    trial_id: str = Field(description="'t001', 't002', ... in the order the session ran them.")
    prompt_version: int = Field(ge=1, description="The script_writer version it scores.")
    parent_trial: str | None = None
    reason: str


class TrainingSession(Record):
    """One training run of the loop: its pairs and split, and the trials in order. Stored as
    training/sessions/<session_id>/session.json; `train --resume` continues the current one (training/current.json),
    a plain `train` starts a new one and makes it current."""

    session_id: str
    created_at: str
    profile_version: int = Field(description="The aggregated profile every trial of the session uses.")
    split: dict[str, Literal["train", "validation"]]
    target_depth: str
    trials: list[TrialEntry] = Field(default_factory=list)
    stopped: str | None = Field(default=None, description="Why training stopped; None while it goes on.")

    @property
    def current(self) -> TrialEntry:
        return self.trials[-1]

    def trial(self, trial_id: str) -> TrialEntry:
        for entry in self.trials:
            if entry.trial_id == trial_id:
                return entry
        raise KeyError(trial_id)


class Refinement(Record):
    """What a refiner proposes from a parent version: settings and body, which move, why, and the parent's
    mean losses that led to it."""

    move: str = Field(
        description="Offline: pace, coverage, structure, style or phrases; 'llm' for the LLM refiner."
    )
    reason: str
    settings: GenerationSettings
    body: str
    losses: dict[str, float] = Field(default_factory=dict)
