"""The order and the checks of one trial item (core/training/trial.py) with fake services: length correction
re-fits while the measured length misses the target and stops at max_passes; the round trip refuses an empty
transcript, a cut file and a high word error rate, naming the audio and a fix; a script edited by hand is
spoken without writing; a refused round trip scores nothing; a written script is kept for a resumed run."""

from __future__ import annotations

from pathlib import Path

import pytest

from podcast_assets.core.analysis.models import AlignedSegments, MatchVerdict
from podcast_assets.core.errors import TrainingError
from podcast_assets.core.ingest.models import TranscriptionResult, TranscriptSegment
from podcast_assets.core.metrics import word_error_rate
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training.models import (
    CoverageJudgement,
    LossDetails,
    Losses,
    QualityJudgement,
    Script,
    ScriptSegment,
)
from podcast_assets.core.training.trial import (
    CUT_SHARE,
    Services,
    SpeechChecks,
    Spoken,
    check_round_trip,
    run_item,
    speak_to_length,
)

AUDIO = Path("/tmp/trial-test/item.mp3")
SENTENCE = "the network forecasts the market from the links between the banks"  # 11 words
WPM = 150.0


def script(words: int = 300, label: str = "written") -> Script:
    """A one-speaker script of about `words` words (whole copies of SENTENCE)."""
    copies = max(1, round(words / len(SENTENCE.split())))
    text = " ".join([SENTENCE] * copies)
    return Script(
        pair_id="pair-a",
        title=f"A {label} script",
        writer="offline-test",
        prompt_version="script_writer/v1",
        target_seconds=120,
        target_words=words,
        speakers=["host"],
        segments=[ScriptSegment(type="intro", speaker="host", text=text)],
    )


def checks(target: float = 100.0, tolerance: float = 0.10, max_passes: int = 3, max_wer: float = 0.35):
    return SpeechChecks(
        target_seconds=target,
        tolerance=tolerance,
        max_passes=max_passes,
        max_wer=max_wer,
        words_per_minute=WPM,
    )


def transcript(text: str, duration: float = 100.0) -> TranscriptionResult:
    segments = [TranscriptSegment(id=0, start=0.0, end=duration, text=text)] if text else []
    return TranscriptionResult(
        audio_sha256="0" * 64,
        provider="fake",
        model="fake",
        language="en",
        duration=duration,
        segments=segments,
        mean_confidence=0.9,
        processing_seconds=0.1,
    )


class FakeSpeaker:
    """Measures the passes from a list of lengths; every pass takes 0.5 s of synthesis."""

    def __init__(self, lengths: list[float]):
        self.lengths = list(lengths)
        self.spoken: list[Script] = []

    def __call__(self, s: Script, audio: Path) -> Spoken:
        self.spoken.append(s)
        if audio.parent.is_dir():
            audio.write_bytes(f"audio of {s.title}".encode())
        return Spoken(
            audio_seconds=self.lengths[len(self.spoken) - 1], voices={"host": "fake"}, synthesis_seconds=0.5
        )


class FakeRefitter:
    def __init__(self):
        self.factors: list[float] = []

    def __call__(self, s: Script, factor: float) -> Script:
        self.factors.append(factor)
        return script(round(s.word_count * factor), label=f"refit {len(self.factors)}")


# --------------------------------------------------------------------------- length correction


def test_a_first_pass_within_the_tolerance_is_not_refitted():
    speak, refit = FakeSpeaker([95.0]), FakeRefitter()
    first = script()
    spoken_script, spoken, lengths, spent = speak_to_length(first, AUDIO, speak, refit, checks())
    assert spoken_script is first and lengths == [95.0] and spent == 0.5
    assert refit.factors == [] and spoken.audio_seconds == 95.0


def test_length_is_refitted_by_target_over_measured_until_within_the_tolerance():
    speak, refit = FakeSpeaker([50.0, 125.0, 104.0, 100.0]), FakeRefitter()
    spoken_script, spoken, lengths, spent = speak_to_length(
        script(), AUDIO, speak, refit, checks(max_passes=5)
    )
    assert lengths == [50.0, 125.0, 104.0], "stops at the first pass within 10% of the target"
    assert refit.factors == pytest.approx([2.0, 0.8]), "too short is lengthened, too long is cut"
    assert spoken_script.title == "A refit 2 script" and speak.spoken[-1] is spoken_script
    assert spoken.audio_seconds == 104.0 and spent == pytest.approx(1.5)


def test_length_correction_stops_at_max_passes_however_far_off():
    speak, refit = FakeSpeaker([40.0, 45.0, 50.0, 55.0]), FakeRefitter()
    spoken_script, spoken, lengths, _ = speak_to_length(script(), AUDIO, speak, refit, checks(max_passes=3))
    assert lengths == [40.0, 45.0, 50.0] and len(refit.factors) == 2
    assert spoken.audio_seconds == 50.0 and spoken_script is speak.spoken[-1], "the last pass is the one kept"
    speak, refit = FakeSpeaker([40.0]), FakeRefitter()
    _, _, lengths, _ = speak_to_length(script(), AUDIO, speak, refit, checks(max_passes=1))
    assert lengths == [40.0] and refit.factors == [], "one pass allowed: no correction"


# --------------------------------------------------------------------------- the round trip


def _refused(s: Script, spoken: Spoken, heard: TranscriptionResult, **limits) -> TrainingError:
    with pytest.raises(TrainingError) as caught:
        check_round_trip(s, spoken, heard, AUDIO, checks(**limits))
    error = caught.value
    assert error.path == str(AUDIO) and str(AUDIO) in str(error), "the error names the audio file"
    assert error.fix and "Fix:" in str(error)
    return error


def test_the_round_trip_refuses_an_empty_transcript():
    s = script(150)
    for heard in (transcript(""), transcript("   ")):
        error = _refused(s, Spoken(60.0, {}, 1.0), heard)
        assert "no recognisable speech" in error.message and "TTS voice" in error.fix


def test_the_round_trip_refuses_a_cut_file():
    s = script(300)  # 297 words: about 119 s at 150 words per minute
    needed = s.word_count / WPM * 60
    error = _refused(s, Spoken(needed * CUT_SHARE - 1, {}, 1.0), transcript(s.text))
    assert "cut short" in error.message and f"{s.word_count} words" in error.message
    assert "disk space" in error.fix
    # a file a little longer than the cut share is slow speech, not a cut one
    assert (
        check_round_trip(s, Spoken(needed * CUT_SHARE + 1, {}, 1.0), transcript(s.text), AUDIO, checks()) == 0
    )


def test_the_round_trip_refuses_a_word_error_rate_above_the_limit():
    s = script(110)
    heard = " ".join(["cats"] * 5 + SENTENCE.split()[5:] + [SENTENCE] * 9)
    wer = word_error_rate(s.text, heard)
    assert 0 < wer < 0.35
    assert check_round_trip(s, Spoken(45.0, {}, 1.0), transcript(heard), AUDIO, checks()) == pytest.approx(
        wer
    )
    error = _refused(s, Spoken(45.0, {}, 1.0), transcript(heard), max_wer=wer / 2)
    assert f"{wer:.0%}" in error.message and "max_round_trip_wer" in error.fix
    error = _refused(s, Spoken(45.0, {}, 1.0), transcript("something else entirely was said here"))
    assert "differs from its script" in error.message


# --------------------------------------------------------------------------- run_item with fake services


class Calls:
    def __init__(self):
        self.log: list[str] = []


def services(
    calls: Calls, *, heard: str | None = None, lengths=(100.0,), score_fails: bool = False
) -> Services:
    """Fake services that log each call; speech hits `lengths`; the transcript says the spoken script (or
    `heard`)."""
    speaker = FakeSpeaker(list(lengths))
    refitter = FakeRefitter()
    spoken: list[Script] = []

    def write() -> Script:
        calls.log.append("write")
        return script(label="written")

    def speak(s: Script, audio: Path) -> Spoken:
        calls.log.append(f"speak:{s.title}")
        spoken.append(s)
        return speaker(s, audio)

    def refit(s: Script, factor: float) -> Script:
        calls.log.append("refit")
        return refitter(s, factor)

    def transcribe(audio: Path) -> TranscriptionResult:
        calls.log.append("transcribe")
        return transcript(spoken[-1].text if heard is None else heard)

    def analyse(t: TranscriptionResult) -> AlignedSegments:
        calls.log.append("analyse")
        return AlignedSegments(
            pair_id="pair-a", classifier="fake", segments=[], mean_alignment=0.5, concept_coverage=0.5,
            match=MatchVerdict(passed=True, rule="fake", figures={}, description="fake"),
        )  # fmt: skip

    def judge_coverage(s: Script) -> CoverageJudgement:
        calls.log.append(f"coverage:{s.title}")
        return CoverageJudgement(levels={"network": 2})

    def judge_quality(s: Script) -> QualityJudgement:
        calls.log.append(f"quality:{s.title}")
        return QualityJudgement(method="llm-judge", engagement=70, clarity=70, accuracy=70)

    def score(**kwargs):
        calls.log.append(f"score:{kwargs['script'].title}")
        if score_fails:
            raise RuntimeError("killed while scoring")
        assert kwargs["coverage"].levels == {"network": 2} and kwargs["quality"].method == "llm-judge"
        losses = Losses(duration=0, coverage=0, structure=0, quality=0.3, rouge=0.5, total=0.11)
        details = LossDetails(
            generated_seconds=kwargs["spoken_seconds"], reference_seconds=100.0, concepts_covered=["network"],
            concepts_missed=[], coverage_method="llm-judge", reference_types=["intro"],
            generated_types=["intro"], writer_types=["intro"], sequence_similarity=1.0,
            distribution_similarity=1.0, quality_method="llm-judge", engagement=70, clarity=70, accuracy=70,
            rouge_1=0.5, rouge_2=0.5, rouge_l=0.5,
        )  # fmt: skip
        return losses, details

    return Services(write, refit, speak, transcribe, analyse, judge_coverage, judge_quality, score)


def test_a_script_edited_by_hand_is_spoken_again_without_writing(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    calls = Calls()
    edited = script(250, label="hand-edited")
    outcome = run_item(
        services(calls),
        checks(),
        work_dir=tmp_path,
        store=store,
        key="k" * 64,
        audio_format="mp3",
        script=edited,
    )
    assert "write" not in calls.log
    assert calls.log == [
        "speak:A hand-edited script", "transcribe", "analyse", "coverage:A hand-edited script",
        "quality:A hand-edited script", "score:A hand-edited script",
    ]  # fmt: skip
    assert outcome.script is edited and outcome.speech.passes == 1 and outcome.speech.round_trip_wer == 0
    assert not store.path("cache/trial_scripts").exists(), "a hand-edited script is not cached as written"


def test_a_written_script_is_cached_and_a_resumed_item_does_not_write_it_again(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    first, again = Calls(), Calls()
    run_item(services(first), checks(), work_dir=tmp_path, store=store, key="k" * 64, audio_format="mp3")
    outcome = run_item(
        services(again), checks(), work_dir=tmp_path, store=store, key="k" * 64, audio_format="mp3"
    )
    assert first.log.count("write") == 1 and "write" not in again.log
    assert outcome.script.title == "A written script"


def test_judges_and_scoring_see_the_script_that_was_spoken_last(tmp_path):
    calls = Calls()
    outcome = run_item(
        services(calls, lengths=(140.0, 98.0)), checks(), work_dir=tmp_path,
        store=LocalArtifactStore(tmp_path / "store"), key="k" * 64, audio_format="mp3",
    )  # fmt: skip
    assert calls.log[:4] == ["write", "speak:A written script", "refit", "speak:A refit 1 script"]
    assert calls.log[-3:] == [
        "coverage:A refit 1 script",
        "quality:A refit 1 script",
        "score:A refit 1 script",
    ]
    assert outcome.speech.passes == 2 and outcome.speech.pass_seconds == [140.0, 98.0]
    assert (tmp_path / "store" / outcome.audio_path).read_bytes() == b"audio of A refit 1 script"


def test_a_killed_item_resumes_after_its_last_finished_step(tmp_path):
    """Speech and the round trip are kept under the item's key: a second run (after a kill in scoring) speaks
    and transcribes nothing again; a hand-edited script is its own item."""
    store = LocalArtifactStore(tmp_path / "store")
    first = Calls()
    with pytest.raises(RuntimeError):
        run_item(
            services(first, score_fails=True), checks(), work_dir=tmp_path, store=store, key="k" * 64,
            audio_format="mp3",
        )  # fmt: skip
    assert "transcribe" in first.log
    again = Calls()
    outcome = run_item(
        services(again), checks(), work_dir=tmp_path, store=store, key="k" * 64, audio_format="mp3"
    )
    assert not any(c.startswith(("write", "speak", "transcribe")) for c in again.log), again.log
    assert outcome.losses is not None
    edited = Calls()
    run_item(services(edited), checks(), work_dir=tmp_path, store=store, key="k" * 64, audio_format="mp3",
             script=script(label="edited by hand"))  # fmt: skip
    assert "speak:A edited by hand script" in edited.log and "transcribe" in edited.log


def test_a_refused_round_trip_scores_nothing(tmp_path):
    calls = Calls()
    store = LocalArtifactStore(tmp_path / "store")
    with pytest.raises(TrainingError, match="no recognisable speech"):
        run_item(
            services(calls, heard=""),
            checks(),
            work_dir=tmp_path,
            store=store,
            key="k" * 64,
            audio_format="mp3",
        )
    assert calls.log[-1] == "transcribe", "no analysis, no judge, no score of silence"
