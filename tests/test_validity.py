"""The loss's validity suite on the real pairs (core/training/validity.py): for each pair, its reference scored
against itself must beat every other pair's podcast, its own sentences shuffled, its first half and the paper
read out (abstract, section openings, conclusion, verbatim, cut to the reference's length, spoken by the
project's TTS and heard back by its ASR); the read-out must also lose on coverage and on quality, and its
semantic similarity to the reference must exceed any other paper's podcast's (ROUGE cannot tell them apart).
Run with -s to see the table; `python bench/validity.py` prints it with margins."""

from __future__ import annotations

import pytest

from podcast_assets.core.ingest.models import TranscriptionResult
from podcast_assets.core.training import validity
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.tts import TTSResource

DEPTH = "standard"


@pytest.fixture(scope="module")
def scorer(real_pairs, ingested) -> validity.Scorer:
    if len(real_pairs) < 2:
        pytest.skip(
            f"the validity suite needs at least 2 real pairs to compare, found {len(real_pairs)} "
            "(../shared/data/pairs is absent: only the bundled example is there)"
        )
    config, _ = ingested
    return validity.Scorer(real_pairs, config, DEPTH)


@pytest.fixture(scope="module")
def hear(tmp_path_factory) -> validity.Hear:
    tts, asr, folder = TTSResource(), ASRResource(), tmp_path_factory.mktemp("read-out")

    def spoken_and_heard(text: str) -> TranscriptionResult:
        path = folder / f"read-out-{len(list(folder.iterdir()))}.mp3"
        tts.speak([("Host", text)], path, speakers=["Host"])
        return asr.transcribe(path)

    return spoken_and_heard


def test_every_reference_beats_its_corruptions_other_podcasts_and_the_paper_read_out(scorer, hear):
    lines, failures = [], []
    for pair_id in scorer.pairs:
        table = list(validity.candidates(scorer, pair_id, hear=hear, shuffle_seeds=("0", "1")))
        lines.append(pair_id)
        lines += [f"  {c.label:<52} {validity.row(c)}" for c in table]
        failures += [f"{pair_id}: {f}" for f in validity.failed_orders(table)]
        assert {c.kind for c in table} >= {"reference", "other", "shuffled", "first_half", "read_out"}
    print("\n" + "\n".join(lines))
    assert not failures, "\n".join(failures)
