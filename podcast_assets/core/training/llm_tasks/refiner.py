"""The LLM refiner: a new script_writer template from the losses and the judges' feedback, refused when it
changes its parent's slots, carries an injection, or copies a long run of the data it was shown."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from podcast_assets.core.analysis.models import SEGMENT_TYPES
from podcast_assets.core.errors import TrainingError
from podcast_assets.core.llm import LLMResponseError, delimit
from podcast_assets.core.training.llm_tasks.calls import (
    REFINER_SYSTEM,
    REFINER_TASK,
    WRITER_TASK,
    LLMCalls,
    require_task,
)
from podcast_assets.core.training.llm_tasks.paper import word_spans
from podcast_assets.core.training.models import (
    GenerationSettings,
    Refinement,
)
from podcast_assets.core.training.prompts import PromptVersion

COPY_WORDS = 8
"""A refined template (or its reason) holding this many consecutive words of the data it was shown is refused."""


INJECTION = re.compile(
    r"\bignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above)\s+instructions?\b", re.IGNORECASE
)


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = [w for _, _, w in word_spans(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def check_template_body(parent_body: str, body: str, untrusted: Iterable[str], *, reason: str = "") -> None:
    """Refuse a refined script_writer body (TrainingError) that changes the parent's slots, has a malformed
    placeholder, holds a delimiter, says "ignore previous instructions", or (with `reason`) holds a run of
    COPY_WORDS words of any untrusted input that the parent did not already hold. The messages name the
    problem, never the copied text, as they are sent back to the model and logged."""
    template = string.Template(body)
    if not template.is_valid():
        raise TrainingError(
            "the new template has a malformed placeholder",
            fix="write slots as $name or ${name}, and a literal $ as $$",
        )
    want, have = set(string.Template(parent_body).get_identifiers()), set(template.get_identifiers())
    if want != have:
        problems = [f"lost slot(s) {', '.join(sorted(want - have))}"] if want - have else []
        problems += [f"added slot(s) {', '.join(sorted(have - want))}"] if have - want else []
        raise TrainingError(
            f"the new template must keep exactly its parent's slots: {'; '.join(problems)}",
            fix=f"keep exactly these placeholders: {', '.join(f'${s}' for s in sorted(want))}",
        )
    for name, text in (("template", body), ("reason", reason)):
        if INJECTION.search(text):
            raise TrainingError(
                f"the new {name} contains an instruction-override phrase copied from the data",
                fix="write the template's own instructions; never copy text from the data blocks",
            )
        if "<<<" in text or ">>>" in text:
            raise TrainingError(
                f"the new {name} contains a data-block delimiter",
                fix="paper and transcript text reaches the writer only through the slots",
            )
    allowed = _ngrams(parent_body, COPY_WORDS)
    for index, source in enumerate(untrusted, 1):
        copied = (_ngrams(source, COPY_WORDS) - allowed) & (
            _ngrams(body, COPY_WORDS) | _ngrams(reason, COPY_WORDS)
        )
        if copied:
            raise TrainingError(
                f"the new template or reason copies a run of {COPY_WORDS} or more words from data item "
                f"{index} (concepts, suggestions or excerpts)",
                fix="write the template's own instructions; paper and transcript text reaches the writer only "
                "through the slots",
            )


class RefinerReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=600)
    body: str = Field(min_length=1, max_length=20_000)
    settings: GenerationSettings


def refiner_reply_schema(parent_body: str, untrusted: Sequence[str]) -> type[RefinerReply]:
    """The refiner's schema, with the body check inside, so a bad body is re-asked with its problem."""
    sources = tuple(untrusted)

    class Reply(RefinerReply):
        @model_validator(mode="after")
        def _checked(self) -> Reply:
            unknown = sorted(set(self.settings.type_weights) - set(SEGMENT_TYPES))
            if unknown:
                raise ValueError(f"settings.type_weights has unknown segment type(s) {', '.join(unknown)}")
            if any(not 0 < w <= 5 for w in self.settings.type_weights.values()):
                raise ValueError("settings.type_weights must be above 0 and at most 5")
            try:
                check_template_body(parent_body, self.body, sources, reason=self.reason)
            except TrainingError as exc:
                raise ValueError(f"{exc.message} ({exc.fix})") from None
            return self

    Reply.__name__ = Reply.__qualname__ = RefinerReply.__name__
    return Reply


def _loss_lines(losses: Mapping[str, float]) -> str:
    items = sorted(((k, v) for k, v in losses.items() if k != "total"), key=lambda kv: -kv[1])
    lines = [f"- {name}: {value:.3f}" for name, value in items]
    if "total" in losses:
        lines.append(f"- total (weighted): {losses['total']:.3f}")
    return "\n".join(lines) or "(no losses given)"


def _listing(label: str, items: Sequence[str], empty: str) -> str:
    return delimit(label, "\n".join(f"- {' '.join(i.split())}" for i in items)) if items else empty


def refine_script_writer(
    calls: LLMCalls,
    version: PromptVersion,
    parent: PromptVersion,
    *,
    losses: Mapping[str, float],
    missed_concepts: Sequence[str],
    suggestions: Sequence[str],
    excerpts: Sequence[str] = (),
) -> Refinement:
    """The next script_writer body and settings from the refiner prompt `version`, given the parent version
    and its trial's signals. Concepts, suggestions and excerpts come from papers and transcripts: they are
    delimited, and a reply that copies them into the template, or changes its slots, is re-asked and then
    refused (LLMResponseError); the body is checked again here whatever `complete_json` validated."""
    require_task(version, REFINER_TASK)
    require_task(parent, WRITER_TASK)
    if parent.settings is None:
        raise TrainingError(
            f"{parent.ref} has no settings", fix="a script_writer version carries its settings"
        )
    untrusted = [*missed_concepts, *suggestions, *excerpts]
    slots = ", ".join(f"${s}" for s in sorted(string.Template(parent.body).get_identifiers()))
    prompt = version.template().render(
        parent_ref=parent.ref,
        losses=_loss_lines(losses),
        parent_settings=json.dumps(parent.settings.model_dump(mode="json"), indent=1),
        parent_body=delimit("TEMPLATE", parent.body),
        missed_concepts=_listing("MISSED_CONCEPTS", missed_concepts, "(none missed)"),
        suggestions=_listing("SUGGESTIONS", suggestions, "(no suggestions)"),
        excerpts=_listing("EXCERPTS", excerpts, "(no excerpts)"),
        slots=slots or "(none)",
    )
    reply, record = calls.ask(
        task=REFINER_TASK,
        system=REFINER_SYSTEM,
        prompt=prompt,
        schema=refiner_reply_schema(parent.body, untrusted),
        version=version,
    )
    try:
        check_template_body(parent.body, reply.body, untrusted, reason=reply.reason)
    except TrainingError as exc:
        raise LLMResponseError(f"{REFINER_TASK}: {exc.message}", fix=exc.fix, record=record) from None
    return Refinement(
        move="llm",
        reason=f"llm refiner from {parent.ref}: " + " ".join(reply.reason.split()),
        body=reply.body,
        settings=GenerationSettings.model_validate(reply.settings.model_dump()),
        losses=dict(losses),
    )
