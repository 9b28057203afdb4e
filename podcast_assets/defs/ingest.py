"""Ingest stage: each pair's paper becomes a document graph, its podcast a word-timed transcript."""

import time

import dagster as dg

from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.ingest.pairs import PairDigest, PairFiles
from podcast_assets.core.ingest.pdf import EXTRACTOR_VERSION, attach_figure_images
from podcast_assets.core.ingest.vocabulary import paper_vocabulary
from podcast_assets.core.previews import png_markdown, png_thumbnail, transcript_preview_markdown
from podcast_assets.core.review.corrections import apply_reviews
from podcast_assets.core.storage import cache_key, pair_record_path
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.pair_state import MANIFEST_TAG
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.pairs import PairsResource
from podcast_assets.resources.pdf import PdfExtractorResource
from podcast_assets.resources.review import ReviewStoreResource
from podcast_assets.resources.storage import ArtifactStoreResource

REVIEW_FINGERPRINT = "review_fingerprint"
"""Materialization metadata of `transcriptions`: which reviewed segments it applied (empty: none)."""


def document_graph_path(pair_id: str) -> str:
    return pair_record_path(pair_id, "document_graph")


def transcription_path(pair_id: str) -> str:
    return pair_record_path(pair_id, "transcription")


def paper_graph(
    files: PairFiles, digest: PairDigest, pdf_extractor: PdfExtractorResource, store, log
) -> tuple[DocumentGraph, bool]:
    """The pair's document graph, from the cache (keyed by PDF content and extractor) or extracted now.
    `digest`: the pair's file hashes, made once per asset (hashing a podcast is not free)."""
    paper = files.require_paper()

    def extract() -> DocumentGraph:
        log.info(f"extracting {paper}")
        graph, images = pdf_extractor.extract(paper)
        return attach_figure_images(graph, {fid: store.put_blob(png, "png") for fid, png in images.items()})

    return store.get_or_create("document_graphs", _graph_key(digest, pdf_extractor), DocumentGraph, extract)


def _graph_key(digest: PairDigest, pdf_extractor: PdfExtractorResource) -> str:
    return cache_key("document_graph", digest.paper, pdf_extractor.cache_identity())


def require_usable_paper(
    files: PairFiles, digest: PairDigest, pdf_extractor: PdfExtractorResource, store
) -> None:
    """Raise PdfError unless the pair's paper is usable: its document graph was extracted from this very PDF
    (cached), or the paper's cheap check (pages, password, text layer) passes now."""
    if store.cached_model("document_graphs", _graph_key(digest, pdf_extractor), DocumentGraph) is None:
        pdf_extractor.check(files.require_paper())


@dg.asset(
    partitions_def=training_pairs,
    group_name="ingest",
    code_version=EXTRACTOR_VERSION,
    kinds={"pdf", "pymupdf"},
)
def document_graphs(
    context: dg.AssetExecutionContext,
    pairs: PairsResource,
    pdf_extractor: PdfExtractorResource,
    artifacts: ArtifactStoreResource,
) -> dg.MaterializeResult:
    """The paper as a graph: title, authors, abstract, sections, paragraphs (text atoms), figures as PNG,
    tables, display equations and ranked key concepts. Cached by PDF content and extractor version."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        files = pairs.files(pair_id)
        digest = files.digest()
        started = time.perf_counter()
        graph, cached = paper_graph(files, digest, pdf_extractor, store, context.log)
        rel = store.write_model(document_graph_path(pair_id), graph)

    metadata: dict[str, dg.RawMetadataValue] = {
        "path": dg.MetadataValue.path(str(store.path(rel))),
        MANIFEST_TAG: digest.manifest,
        "cached": cached,
        "seconds": round(time.perf_counter() - started, 2),
        "title": graph.title,
        "pages": graph.page_count,
        "sections": len(graph.sections),
        "section_source": graph.section_source,
        "text_atoms": len(graph.atoms),
        "figures": len(graph.figures),
        "tables": len(graph.tables),
        "equations": len(graph.equations),
        "key_concepts": len(graph.key_concepts),
        "hidden_text_spans": len(graph.hidden_text),
        "outline": dg.MetadataValue.md(graph.outline_markdown()),
    }
    if graph.figures:
        first = graph.figures[0]
        metadata["first_figure"] = dg.MetadataValue.md(
            png_markdown(
                f"**{first.id}** (p. {first.page}): {first.caption[:300]}",
                png_thumbnail(store.read_bytes(first.image_path)),
                alt=first.id,
            )
        )
    if graph.warnings:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in graph.warnings))
        for warning in graph.warnings:
            context.log.warning(f"{pair_id}: {warning}")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    partitions_def=training_pairs,
    group_name="ingest",
    kinds={"whisper"},
    pool="asr",
    deps=[document_graphs],
)
def transcriptions(
    context: dg.AssetExecutionContext,
    pairs: PairsResource,
    asr: ASRResource,
    artifacts: ArtifactStoreResource,
    review: ReviewStoreResource,
    pdf_extractor: PdfExtractorResource,
) -> dg.MaterializeResult:
    """The podcast as text with word timestamps and confidences, segments, duration and language, with the
    segments a person reviewed (`podcast-assets review`) in place of the recogniser's text. Recognition is cached
    by audio content, recogniser and options, so a re-run costs nothing.

    A pair whose paper is refused is never transcribed (with a cloud recogniser, a paid call): in a run, this
    step waits for `document_graphs` and is skipped when it fails; materialized on its own, it first makes the
    paper's cheap check (pages, password, text layer; a second or two) unless this PDF's graph is cached."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        files = pairs.files(pair_id)
        digest = files.digest()
        require_usable_paper(files, digest, pdf_extractor, store)
        audio = files.require_audio()
        language = files.load_meta().language
        reviews = review.open()
        vocabulary: list[str] = []
        if asr.paper_vocabulary:
            graph, _ = paper_graph(files, digest, pdf_extractor, store, context.log)
            vocabulary = paper_vocabulary(
                graph, reviews.corrected_terms(pair_id), max_terms=asr.vocabulary_terms
            )
        key = cache_key(
            "transcription",
            digest.audio,
            language,
            asr.cache_identity(),
            *([vocabulary] if vocabulary else []),
        )
        next_report = [0.0]

        def progress(done: float, total: float) -> None:
            if total and done / total >= next_report[0]:
                context.log.info(f"{pair_id}: transcribed {done:.0f} s of {total:.0f} s")
                next_report[0] = done / total + 0.1

        def transcribe() -> TranscriptionResult:
            context.log.info(f"transcribing {audio} with {asr.provider}:{asr.in_use()}")
            return asr.transcribe(audio, language=language, progress=progress, vocabulary=vocabulary)

        recognised, cached = store.get_or_create("transcriptions", key, TranscriptionResult, transcribe)
        review_state = reviews.review_states(pair_id).get(pair_id)
        result, summary = apply_reviews(recognised, reviews.corrections(pair_id, recognised.audio_sha256))
        rel = store.write_model(transcription_path(pair_id), result)

    words = result.words
    metadata: dict[str, dg.RawMetadataValue] = {
        "path": dg.MetadataValue.path(str(store.path(rel))),
        MANIFEST_TAG: digest.manifest,
        "cached": cached,
        "provider": result.provider,
        "model": result.model,
        "language": result.language,
        "duration_s": round(result.duration, 1),
        "segments": len(result.segments),
        "words": len(words),
        "words_per_minute": round(len(words) / (result.duration / 60), 1) if result.duration else 0.0,
        "mean_confidence": round(result.mean_confidence, 3),
        "real_time_factor": round(result.duration / result.processing_seconds, 1)
        if result.processing_seconds
        else 0.0,
        "preview": dg.MetadataValue.md(transcript_preview_markdown(result)),
        REVIEW_FINGERPRINT: review_state[0] if review_state else "",
        "reviewed_segments": summary.reviewed_segments,
        "reviewed_segments_changed": summary.changed_segments,
    }
    if summary.reviewed_segments:
        # the recogniser's word error rate against what people settled on, over the reviewed segments
        metadata["review_word_error_rate"] = summary.word_error_rate
        context.log.info(
            f"{pair_id}: {summary.reviewed_segments} reviewed segment(s) applied, {summary.changed_segments} changed; "
            f"recogniser WER on them {summary.word_error_rate:.1%}"
        )
    if summary.unmatched:
        metadata["reviewed_segments_unmatched"] = summary.unmatched
    if result.warnings:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in result.warnings))
    return dg.MaterializeResult(metadata=metadata)
