"""The LLM script writer: the brief (outline, style, concepts, speakers), the template's slots, the reply
schema built per call (the segment types, the speakers, the figure ids) and the script it gives."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from podcast_assets.core.analysis.models import SEGMENT_TYPES, AggregatedProfile, SegmentType
from podcast_assets.core.errors import TrainingError
from podcast_assets.core.llm import LLMResponseError, delimit
from podcast_assets.core.records import Record
from podcast_assets.core.training.llm_tasks.calls import WRITER_SYSTEM, WRITER_TASK, LLMCalls, require_task
from podcast_assets.core.training.llm_tasks.paper import VisiblePaper
from podcast_assets.core.training.models import (
    GenerationSettings,
    Script,
    ScriptSegment,
)
from podcast_assets.core.training.prompts import PromptVersion

WRITER_SLOTS = frozenset(
    {
        "speakers", "target_minutes", "target_words", "outline", "style",
        "phrases", "concepts", "figures", "paper", "answer_format",
    }
)  # fmt: skip
"""The slots script_writer templates are rendered with (v1's; a refined version keeps its parent's)."""


_SPEAKER = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class OutlineItem(Record):
    type: SegmentType
    words: int = Field(ge=1)


class WritingBrief(Record):
    """What a script is written to: the outline with word budgets, the target, the speakers, the style."""

    pair_id: str | None = None
    target_seconds: float = Field(gt=0)
    speakers: list[str] = Field(min_length=1, max_length=4)
    outline: list[OutlineItem] = Field(min_length=1)
    concepts: list[str] = Field(
        default_factory=list, description="Key concepts to explain, most important first."
    )
    phrases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Learned phrases per role (intro, transition, emphasis, conclusion).",
    )
    settings: GenerationSettings

    @property
    def target_words(self) -> int:
        return max(1, round(self.target_seconds / 60 * self.settings.words_per_minute))

    @model_validator(mode="after")
    def _speaker_labels(self) -> WritingBrief:
        bad = [s for s in self.speakers if not _SPEAKER.fullmatch(s)]
        if bad or len(set(self.speakers)) != len(self.speakers):
            raise ValueError("speakers must be distinct lowercase labels such as 'host' and 'guest'")
        return self


def writing_brief(
    profile: AggregatedProfile,
    settings: GenerationSettings,
    *,
    target_seconds: float,
    speakers: Sequence[str],
    concepts: Sequence[str],
    pair_id: str | None = None,
) -> WritingBrief:
    """The brief from the aggregated profile: its canonical sequence, each run's time = the type's learned
    time share x the settings' type weight, shared among the type's runs, scaled to `target_seconds` and
    turned into words at the settings' speaking rate. Phrases are the profile's universal ones."""
    runs = {t: profile.canonical_sequence.count(t) for t in set(profile.canonical_sequence)}
    weights = {
        t: (profile.duration_targets[t].share if t in profile.duration_targets else 0.0)
        * settings.type_weights.get(t, 1.0)
        / runs[t]
        for t in runs
    }
    total = sum(weights[t] for t in profile.canonical_sequence)
    if total <= 0:
        raise TrainingError(
            f"aggregated profile v{profile.version} gives no time to its canonical sequence",
            fix="re-learn the aggregated profile from analysed pairs, or raise the type weights",
        )
    total_words = target_seconds / 60 * settings.words_per_minute
    outline = [
        OutlineItem(type=t, words=max(1, round(total_words * weights[t] / total)))
        for t in profile.canonical_sequence
        if weights[t] > 0
    ]
    phrases = {
        role: [p.phrase for p in shares] for role, shares in profile.universal_phrases.items() if shares
    }
    return WritingBrief(
        pair_id=pair_id,
        target_seconds=target_seconds,
        speakers=list(speakers),
        outline=outline,
        concepts=list(dict.fromkeys(concepts)),
        phrases=phrases,
        settings=settings,
    )


class ScriptReplySegment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: SegmentType
    speaker: str
    text: str = Field(min_length=1, pattern=r"\S", description="The words spoken, nothing else.")
    figures: list[str] = Field(description="Ids of the paper's figures or tables it discusses.")
    concepts: list[str] = Field(description="Key concepts it explains.")


class ScriptReply(BaseModel):
    """What the writer must answer (see `script_reply_schema`)."""

    model_config = ConfigDict(extra="forbid")

    segments: list[ScriptReplySegment] = Field(min_length=1)


def script_reply_schema(speakers: Sequence[str], figure_ids: Sequence[str]) -> type[ScriptReply]:
    """The strict schema of one script: a known segment type, one of `speakers`, non-empty text, figure ids
    of this paper only, at least one segment. The resource validates against it, so a bad reply is re-asked
    and never cached."""
    speaker_type = Literal[tuple(speakers)]  # type: ignore[valid-type]
    figure_type = Literal[tuple(figure_ids)] if figure_ids else str  # type: ignore[valid-type]

    class Segment(ScriptReplySegment):
        speaker: speaker_type  # type: ignore[valid-type]
        figures: list[figure_type] = Field(  # type: ignore[valid-type]
            max_length=len(figure_ids), description="Ids of the paper's figures or tables it discusses."
        )
        concepts: list[str] = Field(max_length=20, description="Key concepts it explains.")

    class Reply(ScriptReply):
        segments: list[Segment] = Field(min_length=1)  # type: ignore[assignment]

    Segment.__name__ = Segment.__qualname__ = "ScriptSegment"
    Reply.__name__ = Reply.__qualname__ = ScriptReply.__name__
    return Reply


def _per_minute(rate: float, minutes: float) -> str:
    return f"about {max(0, round(rate * minutes))} in the whole episode ({rate:g} per minute)"


def writer_slots(paper: VisiblePaper, brief: WritingBrief) -> dict[str, str]:
    """The script_writer slots (WRITER_SLOTS). Paper-derived text (the paper, captions, concepts) and the
    phrases learned from human transcripts are delimited; the rest is made here from numbers and labels."""
    s, minutes = brief.settings, brief.target_seconds / 60
    speakers = brief.speakers
    if len(speakers) == 1:
        who = f"one speaker, '{speakers[0]}', who talks to the listener"
    else:
        who = (
            f"{len(speakers)} speakers, "
            + ", ".join(f"'{x}'" for x in speakers)
            + (f" ('{speakers[0]}' leads and asks, the others explain; they take turns)")
        )
    outline = "\n".join(
        f"{i}. {item.type}: about {item.words} words" for i, item in enumerate(brief.outline, 1)
    )
    style = "\n".join(
        [
            f"- Speaking rate: {s.words_per_minute:g} words per minute; keep to the word budgets.",
            f"- Questions (to the listener or between the speakers): {_per_minute(s.questions_per_minute, minutes)}.",
            f"- Analogies or everyday examples: {_per_minute(s.analogies_per_minute, minutes)}.",
            f"- Each content segment explains at least {s.concepts_per_segment:g} key concept(s).",
            f"- Open about {s.phrase_use:.0%} of the changes of segment type with one of the learned phrases.",
            f"- Keep sentences under {s.max_sentence_words} words.",
        ]
    )
    phrase_lines = [f"{role}: " + "; ".join(p) for role, p in brief.phrases.items() if p]
    figures = "\n".join(f"[{fid}] {caption or '(no caption)'}" for fid, caption in paper.figures.items())
    concepts = "\n".join(f"- {c}" for c in brief.concepts)
    types = ", ".join(SEGMENT_TYPES)
    answer = (
        'Answer with a JSON object {"segments": [{"type": ..., "speaker": ..., "text": ..., "figures": [...], '
        f'"concepts": [...]}}, ...]}} and nothing else: "type" is one of {types}; "speaker" is one of '
        + ", ".join(speakers)
        + '; "text" is the words spoken; "figures" lists the ids of the figures or tables the segment talks '
        'about (usually none); "concepts" lists the key concepts it explains.'
    )
    return {
        "speakers": who,
        "target_minutes": f"{minutes:.1f}",
        "target_words": str(brief.target_words),
        "outline": outline,
        "style": style,
        "phrases": delimit("LEARNED_PHRASES", "\n".join(phrase_lines)) if phrase_lines else "(none learned)",
        "concepts": delimit("KEY_CONCEPTS", concepts) if concepts else "(none listed)",
        "figures": delimit("FIGURES", figures) if figures else "(the paper has no figures or tables)",
        "paper": delimit("PAPER", paper.text),
        "answer_format": answer,
    }


def write_script(calls: LLMCalls, version: PromptVersion, paper: VisiblePaper, brief: WritingBrief) -> Script:
    """A script from the LLM with `version` (a script_writer prompt), written to `brief` about `paper`.

    Raises LLMResponseError when the reply still breaks the schema after the re-asks (an unknown segment
    type, no segment, an unknown speaker or figure id), and the resource's other errors.
    """
    require_task(version, WRITER_TASK)
    if version.settings != brief.settings:
        raise TrainingError(
            f"the brief was planned with other settings than {version.ref}'s",
            fix="build the brief with writing_brief(..., version.settings, ...)",
        )
    prompt = version.template().render(**writer_slots(paper, brief))
    figure_ids = list(paper.figures)
    reply, record = calls.ask(
        task=WRITER_TASK,
        system=WRITER_SYSTEM,
        prompt=prompt,
        schema=script_reply_schema(brief.speakers, figure_ids),
        version=version,
    )
    segments = []
    for item in reply.segments:
        unknown = sorted(set(item.figures) - set(figure_ids))
        if item.speaker not in brief.speakers or unknown or item.type not in SEGMENT_TYPES:
            raise LLMResponseError(
                f"{WRITER_TASK}: a segment names an unknown speaker, type or figure id",
                fix="check the prompt and the model; the schema given to complete_json forbids such a reply",
                record=record,
            )
        segments.append(
            ScriptSegment(
                type=item.type,
                speaker=item.speaker,
                text=" ".join(item.text.split()),
                figures=list(dict.fromkeys(item.figures)),
                concepts=list(dict.fromkeys(c.strip() for c in item.concepts if c.strip())),
            )
        )
    return Script(
        pair_id=brief.pair_id,
        title=paper.title or "Untitled paper",
        writer=f"llm:{record.provider}/{record.model}",
        prompt_version=version.ref,
        target_seconds=brief.target_seconds,
        target_words=brief.target_words,
        speakers=list(brief.speakers),
        segments=segments,
    )
