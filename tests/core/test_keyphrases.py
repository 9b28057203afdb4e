"""Key-concept ranking on hand-made atoms."""

from __future__ import annotations

from podcast_assets.core.ingest.keyphrases import extract_key_concepts
from podcast_assets.core.ingest.models import BBox, TextAtom

BOX = BBox(x0=0, y0=0, x1=100, y1=20)


def atom(i: int, text: str, kind: str = "paragraph") -> TextAtom:
    return TextAtom(id=f"p01-b{i:03d}", text=text, page=1, bbox=BOX, kind=kind)  # type: ignore[arg-type]


ATOMS = [
    atom(1, "Knowledge distillation transfers skills from a teacher model to a student model."),
    atom(2, "We study knowledge distillation for speech recognisers: the student imitates the teacher."),
    atom(3, "In our experiments, knowledge distillation with soft labels helps the small student most."),
    atom(4, "The results show that the approach is good and the method is used in many cases."),
    atom(5, "Hinton G. Distilling the knowledge in a neural network. arXiv:1503.02531.", "reference"),
    atom(6, "Hinton G. Dark knowledge talk. Hinton slides, Hinton archive, Hinton notes.", "reference"),
]


def test_specific_multiword_phrase_ranks_first() -> None:
    concepts = extract_key_concepts(ATOMS, title="Knowledge Distillation for Small Models")
    phrases = [c.phrase for c in concepts]
    assert phrases[0] == "knowledge distillation"
    top = concepts[0]
    assert top.frequency == 3
    assert top.atom_ids == ["p01-b001", "p01-b002", "p01-b003"]
    assert "student" in phrases and "teacher" in phrases


def test_generic_words_and_stopwords_are_not_concepts() -> None:
    phrases = {c.phrase for c in extract_key_concepts(ATOMS)}
    assert not phrases & {"results", "approach", "method", "good", "cases", "the", "used"}


def test_reference_atoms_are_ignored() -> None:
    concepts = extract_key_concepts(ATOMS)
    assert all("hinton" not in c.phrase.lower() and "arxiv" not in c.phrase.lower() for c in concepts)
    assert all(not set(c.atom_ids) & {"p01-b005", "p01-b006"} for c in concepts)


def test_plural_and_singular_merge() -> None:
    atoms = [
        atom(1, "Transformers use attention heads. Each attention head attends to tokens."),
        atom(2, "Pruning attention heads keeps accuracy; one attention head per layer suffices."),
        atom(3, "We trained on eight GPUs; a single GPU holds the model."),
    ]
    concepts = {c.phrase: c for c in extract_key_concepts(atoms)}
    head = [c for p, c in concepts.items() if p.startswith("attention head")]
    assert len(head) == 1 and head[0].frequency == 4
    gpu = [c for p, c in concepts.items() if p.lower().startswith("gpu")]
    assert len(gpu) == 1 and gpu[0].frequency == 2


def test_title_and_abstract_boost_and_top_k() -> None:
    atoms = [atom(1, "Phenology shifts earlier. Irrigation schedules change."),
             atom(2, "Phenology models predict flowering. Irrigation costs rise.")]
    plain = {c.phrase.lower(): c.score for c in extract_key_concepts(atoms)}
    boosted_concepts = extract_key_concepts(atoms, abstract="Irrigation under drought")
    boosted = {c.phrase.lower(): c.score for c in boosted_concepts}
    assert boosted["irrigation"] > plain["irrigation"]
    assert boosted["phenology"] == plain["phenology"]
    assert len(extract_key_concepts(atoms, top_k=1)) == 1


def test_deterministic_and_empty_input() -> None:
    assert extract_key_concepts(ATOMS) == extract_key_concepts(list(ATOMS))
    assert extract_key_concepts([]) == []
