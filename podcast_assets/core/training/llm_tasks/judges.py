"""The LLM judges of a script: coverage (a depth level per key concept) and quality (engagement, clarity,
accuracy), each with a strict schema built per call; no default is invented for a missing score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from podcast_assets.core.errors import TrainingError
from podcast_assets.core.llm import LLMResponseError, delimit, id_problems
from podcast_assets.core.training.llm_tasks.calls import (
    COVERAGE_TASK,
    JUDGE_SYSTEM,
    QUALITY_TASK,
    LLMCalls,
    require_task,
)
from podcast_assets.core.training.llm_tasks.paper import VisiblePaper
from podcast_assets.core.training.models import (
    CoverageJudgement,
    QualityJudgement,
    Script,
)
from podcast_assets.core.training.prompts import PromptVersion


def script_listing(script: Script) -> str:
    """The script as the judges read it: one segment per paragraph, headed by its speaker."""
    return "\n\n".join(f"{s.speaker}: {s.text}" for s in script.segments)


class ConceptLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    level: int = Field(
        ge=0, le=3, strict=True, description="0 not covered, 1 named, 2 explained, 3 with its role."
    )


class CoverageReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    levels: list[ConceptLevel]


def coverage_reply_schema(ids: Sequence[str]) -> type[CoverageReply]:
    """One entry per listed concept id, each exactly once, level 0-3."""
    wanted = tuple(ids)

    class Level(ConceptLevel):
        id: Literal[wanted]  # type: ignore[valid-type]

    class Reply(CoverageReply):
        levels: list[Level]  # type: ignore[assignment]

        @model_validator(mode="after")
        def _each_once(self) -> Reply:
            problem = id_problems(wanted, [item.id for item in self.levels], "concept")
            if problem:
                raise ValueError(problem)
            return self

    Level.__name__ = Level.__qualname__ = "ConceptLevel"
    Reply.__name__ = Reply.__qualname__ = CoverageReply.__name__
    return Reply


def _concept_ids(concepts: Sequence[str]) -> dict[str, str]:
    unique = list(dict.fromkeys(c.strip() for c in concepts if c.strip()))
    if not unique:
        raise TrainingError(
            "no key concept to judge coverage of", fix="the paper's document graph lists no key concept"
        )
    width = len(str(len(unique)))
    return {f"c{i:0{width}d}": c for i, c in enumerate(unique, 1)}


def judge_coverage(
    calls: LLMCalls, version: PromptVersion, script: Script, concepts: Sequence[str], paper: VisiblePaper
) -> CoverageJudgement:
    """How deeply (0-3) the script covers each of `concepts` (the paper's key concepts), by the LLM judge."""
    require_task(version, COVERAGE_TASK)
    by_id = _concept_ids(concepts)
    prompt = version.template().render(
        count=len(by_id),
        abstract=delimit("ABSTRACT", paper.abstract) if paper.abstract else "(the paper has no abstract)",
        concepts=delimit("KEY_CONCEPTS", "\n".join(f"[{i}] {c}" for i, c in by_id.items())),
        script=delimit("SCRIPT", script_listing(script)),
    )
    reply, record = calls.ask(
        task=COVERAGE_TASK,
        system=JUDGE_SYSTEM,
        prompt=prompt,
        schema=coverage_reply_schema(list(by_id)),
        version=version,
    )
    levels = {item.id: item.level for item in reply.levels}
    if set(levels) != set(by_id):
        raise LLMResponseError(
            f"{COVERAGE_TASK}: the reply does not rate every listed concept exactly once",
            fix="check the prompt and the model; the schema given to complete_json forbids such a reply",
            record=record,
        )
    return CoverageJudgement(levels={by_id[i]: levels[i] for i in by_id})


class QualityReply(BaseModel):
    """The quality judge's answer: every mark required, 0-100, no default."""

    model_config = ConfigDict(extra="forbid")

    engagement: float = Field(ge=0, le=100, strict=True, allow_inf_nan=False)
    clarity: float = Field(ge=0, le=100, strict=True, allow_inf_nan=False)
    accuracy: float = Field(ge=0, le=100, strict=True, allow_inf_nan=False)
    suggestions: list[str] = Field(max_length=5)

    @model_validator(mode="after")
    def _suggestions_text(self) -> QualityReply:
        if any(not s.strip() or len(s) > 400 for s in self.suggestions):
            raise ValueError("each suggestion must be one non-empty sentence of at most 400 characters")
        return self


def judge_quality(
    calls: LLMCalls, version: PromptVersion, script: Script, paper: VisiblePaper
) -> QualityJudgement:
    """Engagement, clarity and accuracy (0-100 each, accuracy against the visible paper) and suggestions."""
    require_task(version, QUALITY_TASK)
    prompt = version.template().render(
        paper=delimit("PAPER", paper.text), script=delimit("SCRIPT", script_listing(script))
    )
    reply, _ = calls.ask(
        task=QUALITY_TASK, system=JUDGE_SYSTEM, prompt=prompt, schema=QualityReply, version=version
    )
    return QualityJudgement(
        method="llm-judge",
        engagement=reply.engagement,
        clarity=reply.clarity,
        accuracy=reply.accuracy,
        notes={"hidden_text_stripped": float(paper.stripped), "paper_truncated": float(paper.truncated)},
        suggestions=[" ".join(s.split()) for s in reply.suggestions],
    )
