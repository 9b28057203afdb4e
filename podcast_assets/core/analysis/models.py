"""Records of the analysis stage: typed, paper-aligned segments, per-pair structure and style profiles, and
the aggregated profile learned across pairs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from podcast_assets.core.records import Record

# --------------------------------------------------------------------------- analysis

SegmentType = Literal[
    "intro",
    "background",
    "problem",
    "methodology",
    "key_finding",
    "figure",
    "implication",
    "limitation",
    "conclusion",
    "tangent",
    "transition",
]
SEGMENT_TYPES: tuple[str, ...] = SegmentType.__args__  # type: ignore[attr-defined]


class AlignedSegment(Record):
    """A paragraph-level stretch of the podcast (typically 10-60 s), typed and linked to the paper."""

    id: str
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    type: SegmentType
    type_confidence: float = Field(ge=0, le=1)
    type_scores: dict[str, float] = Field(default_factory=dict, description="Score per segment type.")
    primary_atoms: list[str] = Field(default_factory=list, description="Ids of the paper atoms it discusses.")
    alignment_score: float = Field(default=0.0, description="Similarity to the best matching atom.")
    referenced_figures: list[str] = Field(default_factory=list)
    key_concepts: list[str] = Field(default_factory=list)
    technical_terms: list[str] = Field(default_factory=list)
    analogies: list[str] = Field(default_factory=list)
    questions: list[str] = Field(default_factory=list)
    word_count: int = Field(ge=0)
    words_per_minute: float = Field(ge=0)
    density_score: float = Field(ge=0, description="Key concepts and technical terms per 100 words.")
    speakers: list[str] = Field(default_factory=list, description="Speaker labels, when the recogniser gives them.")

    @property
    def duration(self) -> float:
        return self.end - self.start


class MatchVerdict(Record):
    """Whether the podcast discusses the paper it is paired with (core/analysis/pair_check.py)."""

    passed: bool
    rule: str = Field(description="Which rule decided, e.g. 'pair-alone-v1'.")
    figures: dict[str, float] = Field(description="The measured figures the rule used.")
    description: str


class AlignedSegments(Record):
    pair_id: str
    classifier: str = Field(
        description="Which typer made the types, e.g. 'local-cues-sections-position-v1' or 'llm:<model>'."
    )
    segments: list[AlignedSegment]
    mean_alignment: float = Field(description="Mean best-atom similarity of the segments (0-1).")
    concept_coverage: float = Field(
        ge=0, le=1, description="Share of the paper's key concepts the podcast mentions: near 0 means another paper."
    )
    match: MatchVerdict = Field(description="Does the podcast discuss this paper? A failed verdict blocks profiling.")
    warnings: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- profiles

DefinitionStyle = Literal["copula", "analogy", "example"]
DEFINITION_STYLES: tuple[str, ...] = DefinitionStyle.__args__  # type: ignore[attr-defined]
FigureStyle = Literal["described", "referenced_by_number", "not_discussed"]
FIGURE_STYLES: tuple[str, ...] = FigureStyle.__args__  # type: ignore[attr-defined]
PhraseRole = Literal["intro", "transition", "emphasis", "conclusion"]
PHRASE_ROLES: tuple[str, ...] = PhraseRole.__args__  # type: ignore[attr-defined]


class StructureProfile(Record):
    """The shape of one podcast: which segment types come in which order, for how long, how dense."""

    pair_id: str
    segment_sequence: list[SegmentType] = Field(
        description="Segment types in playback order, one per segment."
    )
    segment_durations: list[float] = Field(
        description="Seconds of each segment, parallel to segment_sequence."
    )
    type_counts: dict[str, int] = Field(description="Segments per type (types that occur).")
    duration_by_type: dict[str, float] = Field(description="Total seconds per type.")
    mean_duration_by_type: dict[str, float] = Field(description="Mean segment seconds per type.")
    time_share_by_type: dict[str, float] = Field(
        description="Share (0-1) of the segmented time per type; sums to 1 when there is any segment."
    )
    total_duration: float = Field(
        ge=0, description="Audio seconds: the transcription's decoded duration, else the last segment's end."
    )
    segmented_duration: float = Field(ge=0, description="Sum of the segments' durations (seconds).")
    segment_count: int = Field(ge=0)
    word_count: int = Field(ge=0, description="Sum of the segments' word counts.")
    words_per_minute: float = Field(ge=0, description="word_count per minute of audio (total_duration).")
    wpm_by_type: dict[str, float] = Field(description="Words per minute within the type's own segments.")
    concept_count: int = Field(ge=0, description="Distinct paper key concepts mentioned (case-folded).")
    concepts_per_minute: float = Field(ge=0, description="concept_count per minute of audio.")
    figures_discussed: list[str] = Field(
        description="Figure ids the segments reference, in order of first mention."
    )
    figure_count: int = Field(ge=0)
    figures_per_minute: float = Field(ge=0, description="figure_count per minute of audio.")
    type_change_openings: list[str] = Field(
        description="Opening clause (lowercased, at most 8 words) of each segment whose type differs from "
        "the previous one."
    )


class StyleProfile(Record):
    """How one podcast talks: sentence shape, vocabulary, questions, analogies, definitions, stock phrases."""

    pair_id: str
    sentence_count: int = Field(ge=0)
    word_count: int = Field(ge=0, description="Words in the segments' text (normalised tokens).")
    mean_sentence_length: float = Field(ge=0, description="Mean words per sentence.")
    sentence_length_sd: float = Field(
        ge=0, description="Population standard deviation of words per sentence."
    )
    vocabulary_complexity: float = Field(
        ge=0,
        le=1,
        description="Share of alphabetic word tokens whose English Zipf frequency (wordfreq) is below 3.0, "
        "i.e. rarer than about one use per million words.",
    )
    mean_word_zipf: float = Field(
        ge=0, description="Mean English Zipf frequency of the alphabetic word tokens."
    )
    jargon_density: float = Field(
        ge=0,
        description="Occurrences of the segments' technical terms per 100 words (a listed term not found "
        "verbatim counts once).",
    )
    question_count: int = Field(ge=0, description="Sentences ending in '?'.")
    questions_per_minute: float = Field(ge=0, description="question_count per minute of audio.")
    analogy_count: int = Field(ge=0, description="Analogies the aligner found in the segments.")
    analogies_per_segment: float = Field(ge=0)
    enthusiasm_markers: dict[str, int] = Field(
        description="Counts of generic enthusiasm words ('amazing', 'fascinating', 'wow', ...) and '!' "
        "(key '!')."
    )
    enthusiasm_per_minute: float = Field(ge=0, description="All enthusiasm markers per minute of audio.")
    definition_count: int = Field(ge=0, description="Sentences classified as a definition of a term.")
    definition_style: dict[str, float] = Field(
        description="Share (0-1) of definitions per style. A sentence is a definition when it names one of "
        "its segment's technical terms or key concepts and either states it ('<term> is/are/means/refers "
        "to/stands for ...', '... called/known as <term>') or carries an analogy or example marker. Class: "
        "'analogy' if it has an analogy marker ('think of', 'imagine', 'is like', 'similar to', ...), else "
        "'example' if it has an example marker ('for example', 'for instance', 'such as', \"let's "
        "say\"), else 'copula'. Empty when there is no definition."
    )
    example_count: int = Field(
        ge=0, description="Example markers: 'for example', 'for instance', 'such as', \"let's say\"."
    )
    example_frequency: float = Field(ge=0, description="example_count per minute of audio.")
    intro_phrases: list[str] = Field(
        description="2-4-word n-grams of the intro segments (the first segment if none is typed intro) "
        "that have at least half of their uses there and a word that is not a stopword; most frequent "
        "first."
    )
    transition_phrases: list[str] = Field(
        description="Same, over the first sentence of each segment after a type change and of 'transition' "
        "segments."
    )
    emphasis_phrases: list[str] = Field(
        description="Same, over sentences with an emphasis cue ('important', 'key', 'remember', ...); each "
        "n-gram contains a cue."
    )
    conclusion_phrases: list[str] = Field(
        description="Same, over the conclusion segments (the last segment if none is typed conclusion)."
    )
    figure_mentions: dict[str, int] = Field(
        description="Segments that discuss a figure: 'referenced_by_number' when the text names "
        "'figure/fig./table <n>', else 'described' when it is typed 'figure', references a figure or talks "
        "about a graph/plot/chart/diagram/image."
    )
    figure_style: FigureStyle = Field(
        description="The most common figure mention kind, 'not_discussed' if none."
    )
    speaker_gender: str | None = Field(default=None, description="From the pair's metadata, when known.")
    speaker_count: int | None = Field(
        default=None,
        description="From the pair's metadata, else the distinct speaker labels of the transcript.",
    )


class ValueRange(Record):
    min: float
    p25: float
    median: float
    p75: float
    max: float


class DurationTarget(Record):
    """How long one segment type runs, pooled over the segments of every pair."""

    median_seconds: float = Field(ge=0, description="Median seconds of one segment of this type.")
    p25_seconds: float = Field(ge=0)
    p75_seconds: float = Field(ge=0)
    share: float = Field(ge=0, le=1, description="Mean over pairs of the type's time share (0 where absent).")
    segments: int = Field(ge=1, description="Segments of this type observed.")
    pairs_with_type: int = Field(ge=1)


class DepthPlan(Record):
    """Targets for one depth: its configured length range and key concepts, with the learned shares and rates
    planned at the range's target length."""

    min_minutes: float = Field(gt=0, description="Configured shortest length.")
    max_minutes: float | None = Field(description="Configured longest length; None: open-ended.")
    target_minutes: float = Field(
        gt=0, description="Length the plan is made for: the middle of the range, min_minutes when open-ended."
    )
    seconds_by_type: dict[str, float] = Field(description="share × target length, per type.")
    segment_counts: dict[str, int] = Field(
        description="round(seconds / median segment seconds) per type, at least the type's runs in the "
        "canonical sequence."
    )
    segment_count: int = Field(ge=0)
    key_concepts: int = Field(ge=1, description="The configured number of key concepts to cover.")
    learned_concepts: int = Field(
        ge=0, description="Median concepts per minute of the references × target minutes, for comparison."
    )
    words: int = Field(ge=0, description="Median words per minute × target minutes.")
    min_words: int = Field(ge=0, description="Median words per minute × min_minutes.")
    max_words: int | None = Field(description="Median words per minute × max_minutes; None: open-ended.")
    figures: int = Field(ge=0, description="Median figures per minute × target minutes.")


class StyleVariant(Record):
    """Mean style figures of one speaker setting."""

    pairs: list[str]
    mean_sentence_length: float
    sentence_length_sd: float
    vocabulary_complexity: float
    jargon_density: float
    questions_per_minute: float
    analogies_per_segment: float
    example_frequency: float
    enthusiasm_per_minute: float
    definition_style: dict[str, float] = Field(description="Mean shares over the pairs that define anything.")
    figure_style: FigureStyle = Field(description="Most common figure style (ties: described first).")


class PhraseShare(Record):
    phrase: str
    pairs: int = Field(ge=1, description="Pairs whose profile lists the phrase.")
    share: float = Field(ge=0, le=1)


class AggregatedProfile(Record):
    """The learned shape of a good podcast, across pairs. Stored versioned under profiles/."""

    version: int = Field(ge=1)
    created_at: str = Field(description="ISO 8601 datetime.")
    pairs_used: list[str]
    pairs_left_out: dict[str, str] = Field(
        description="Registered pairs that contributed nothing, each with the reason (mismatched podcast, failed "
        "or unfinished run, unreadable record)."
    )
    source_fingerprint: str = Field(
        description="Hash of the input profiles, the pairs left out and the depth settings."
    )
    canonical_sequence: list[SegmentType]
    canonical_sequence_method: str
    canonical_mean_distance: float = Field(
        ge=0,
        description="Mean edit distance from the canonical sequence to the run-compressed input sequences.",
    )
    duration_targets: dict[str, DurationTarget]
    depth_targets: dict[str, DepthPlan]
    style_variants: dict[str, StyleVariant] = Field(
        description="'all', 'gender:<speaker_gender>' and 'speakers:<n>' for the settings the pairs declare."
    )
    universal_phrases: dict[str, list[PhraseShare]] = Field(
        description="Per role, phrases listed by at least half of the pairs (shorter phrases with the same "
        "support as a longer one containing them are dropped)."
    )
    wpm_range: ValueRange
    concepts_per_minute_range: ValueRange
