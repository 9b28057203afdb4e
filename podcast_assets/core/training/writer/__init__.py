"""The offline script writer (the default, no network): a podcast script made of the paper's own sentences,
shaped by the aggregated profile and obeying a prompt version's generation settings.

Why a real generator and not a template: every trial is scored against a human podcast of the same paper,
so the script must carry that paper's content (its abstract, methods, results, figures and key concepts) in
the order and proportions the references use. Nothing is invented: every content sentence is a paper
sentence made speakable (citations, equations, URLs and parenthetical asides dropped, abbreviations
spelled out, "we" becomes "they", long sentences cut at clause boundaries). The only words the writer adds
are signposts, questions and reactions that state no fact ("Let's look at Figure 2", "How big is the effect?"
before a sentence that gives an amount, "Right."), and the learned phrases of the profile that pass its filter.

By what each part does:
- `plan`: the segments in order with their word budgets (the canonical sequence and its documented
  insertions), rationed to what the paper holds;
- `paper`: the document graph prepared for writing (spoken sentences, the atom pool of each type);
- `draft`: one segment's content (which atoms, which leads, where it starts, what fits);
- `phrasing`: the words the writer adds (opening, signposts, transitions, questions fitted to their answers);
- `script`: `write_script`, which puts them together;
- `length`: `fit_length` and `paper_supply`, the length correction and its ceiling.
"""

from podcast_assets.core.training.writer.length import fit_length, paper_supply
from podcast_assets.core.training.writer.plan import NARRATIVE_ORDER, PlannedSegment, segment_plan
from podcast_assets.core.training.writer.script import GUEST, HOST, WRITER, speaker_labels, write_script

__all__ = [
    "GUEST",
    "HOST",
    "NARRATIVE_ORDER",
    "WRITER",
    "PlannedSegment",
    "fit_length",
    "paper_supply",
    "segment_plan",
    "speaker_labels",
    "write_script",
]
