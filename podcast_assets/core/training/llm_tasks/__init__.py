"""The LLM half of training: the script writer, the coverage and quality judges, and the refiner.

Pure: this module builds prompts and reply schemas and checks replies; the caller passes a `complete_json`
callable with LLMResource.complete_json's signature (as core/analysis/llm_typer.py does), wrapped in an
`LLMCalls` that hands every call the session's running spend, so the resource's budget cap stops the run.

Every reply schema is strict and built per call (the segment types, the speakers, the figure ids, the
concept ids, the parent's slots), so a bad reply is re-asked by the resource and never cached, and no
default is invented for a missing score. Untrusted text (the paper, the script, the concepts, the judge's
suggestions, transcript excerpts) enters a prompt only through `delimit`. The paper is sent without the text
its PDF hides from readers (`DocumentGraph.hidden_text`), and a refined template may neither change its
slots nor carry a long run of the data it was shown.
"""

from podcast_assets.core.training.llm_tasks.calls import (
    COVERAGE_TASK,
    JUDGE_SYSTEM,
    QUALITY_TASK,
    REFINER_SYSTEM,
    REFINER_TASK,
    WRITER_SYSTEM,
    WRITER_TASK,
    LLMCalls,
)
from podcast_assets.core.training.llm_tasks.judges import judge_coverage, judge_quality, script_listing
from podcast_assets.core.training.llm_tasks.paper import VisiblePaper, strip_hidden, visible_paper
from podcast_assets.core.training.llm_tasks.refiner import (
    COPY_WORDS,
    check_template_body,
    refine_script_writer,
)
from podcast_assets.core.training.llm_tasks.script_writer import (
    WRITER_SLOTS,
    OutlineItem,
    WritingBrief,
    write_script,
    writer_slots,
    writing_brief,
)

__all__ = [
    "COPY_WORDS",
    "COVERAGE_TASK",
    "JUDGE_SYSTEM",
    "QUALITY_TASK",
    "REFINER_SYSTEM",
    "REFINER_TASK",
    "WRITER_SLOTS",
    "WRITER_SYSTEM",
    "WRITER_TASK",
    "LLMCalls",
    "OutlineItem",
    "VisiblePaper",
    "WritingBrief",
    "check_template_body",
    "judge_coverage",
    "judge_quality",
    "refine_script_writer",
    "script_listing",
    "strip_hidden",
    "visible_paper",
    "write_script",
    "writer_slots",
    "writing_brief",
]
