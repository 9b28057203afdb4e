"""The paper's vocabulary for the recogniser, the term error rate that measures it, and terms people corrected."""

from __future__ import annotations

from podcast_assets.core.ingest.vocabulary import paper_vocabulary
from podcast_assets.core.metrics import term_errors


def test_term_errors_count_each_reference_occurrence_once():
    reference = "Knowledge distillation moves what a teacher knows into a student. Distillation is cheap."
    assert term_errors(reference, reference, ["knowledge distillation", "distillation", "teacher"]) == (0, 4)
    heard = "Knowledge distal asian moves what a teacher knows into a student. Distillation is cheap."
    # "knowledge distillation" and its "distillation" are missed; the second "distillation" and "teacher" are right
    assert term_errors(reference, heard, ["knowledge distillation", "distillation", "teacher"]) == (2, 4)
    assert term_errors(reference, heard, ["transformer"]) == (0, 0)


def test_the_vocabulary_is_the_papers_best_key_concepts_after_corrected_terms(real_pairs):
    for transcript, graph in real_pairs.values():
        vocabulary = paper_vocabulary(graph, ["Kullback"], max_terms=10)
        assert vocabulary[0] == "Kullback" and len(vocabulary) == min(10, len(graph.key_concepts) + 1)
        best = max(graph.key_concepts, key=lambda k: k.score).phrase
        assert best in vocabulary
        assert len({v.lower() for v in vocabulary}) == len(vocabulary)
