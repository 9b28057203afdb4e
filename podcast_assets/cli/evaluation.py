"""`evaluate`: prompt versions scored on pairs never used in training; `generate`: a new paper to a script
and its audio. Both use the trained state (aggregated profile, prompt versions) read-only.

Evaluation pairs are ingested into their own artifact root (`<root>/evaluation/`) through the same assets
in an ephemeral Dagster instance, so they never join the training partitions or the aggregate.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from podcast_assets.cli.locking import holding
from podcast_assets.cli.progress import failure_reasons
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.errors import PodcastAssetsError, TrainingError
from podcast_assets.core.ingest.pairs import discover_pairs
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training.convergence import paired_improvement
from podcast_assets.core.training.prompts import REFINED, PromptLibrary, PromptVersion
from podcast_assets.core.training.session import load_session, session_failures, session_items
from podcast_assets.core.training.summary import build_report
from podcast_assets.resources.storage import open_store

EVALUATION_DIR = "evaluation"


def resolve_version(config: PipelineConfig, library: PromptLibrary, name: str) -> PromptVersion:
    """'vN' or 'best' (the current session's best trial; v1 before any training)."""
    if name == "best":
        store = open_store(config.storage)
        session = load_session(store)
        best = None
        if session is not None:
            report = build_report(session, session_items(store, session), session_failures(store, session),
                                  config.convergence)  # fmt: skip
            best = report.decision.best_version
        return library.get(REFINED, best or 1)
    if not (name.startswith("v") and name[1:].isdigit()):
        raise TrainingError(f"version {name!r} is neither 'best' nor 'vN'", fix="use e.g. --versions v1,best")
    return library.get(REFINED, int(name[1:]))


def _trainer(config: PipelineConfig, store: LocalArtifactStore):
    from podcast_assets.definitions import build_resources
    from podcast_assets.defs.trial_items import Trainer
    from podcast_assets.resources.training import PROMPTS_DIR

    training_store = open_store(config.storage)
    profile = load_current(training_store)
    if profile is None:
        raise TrainingError("no aggregated profile yet", fix="run `podcast-assets train` first")
    resources = build_resources(config)
    library = PromptLibrary(PROMPTS_DIR, training_store)
    trainer = Trainer(store, profile, library, resources["asr"], resources["tts"], resources["llm"], resources["training"])
    return trainer, resources


def evaluate(config: PipelineConfig, pairs_dir: Path, names: list[str], *, verbose: bool = False) -> int:
    """Score each version on every pair of `pairs_dir` that training never used (one evaluation at a time)."""
    discovery = discover_pairs(pairs_dir)
    for problem in discovery.problems:
        print(f"! {problem}", file=sys.stderr)
    training_store = open_store(config.storage)
    session = load_session(training_store)
    profile = load_current(training_store)
    trained = set(session.split) if session else set()
    trained |= set(profile.pairs_used) if profile else set()
    pair_ids = [p for p in discovery.pairs if p not in trained]
    for p in sorted(set(discovery.pairs) & trained):
        print(f"! {p} was used in training: left out of the evaluation", file=sys.stderr)
    if not pair_ids:
        print(f"error: no pair in {pairs_dir} that training has not used", file=sys.stderr)
        return 2
    eval_root = config.storage.root / EVALUATION_DIR
    eval_config = config.model_copy(
        update={"pairs_dir": pairs_dir.resolve(), "storage": config.storage.model_copy(update={"root": eval_root})}
    )
    with holding(eval_root, "the evaluation's artifact root"):
        return _score(config, eval_config, pair_ids, names, verbose=verbose)


def _score(config: PipelineConfig, eval_config: PipelineConfig, pair_ids: list[str], names: list[str], *,
           verbose: bool) -> int:  # fmt: skip
    """Ingest each evaluation pair into the evaluation root, then score every version on every pair that ingested."""
    import dagster as dg

    from podcast_assets.cli.interrupts import materialize
    from podcast_assets.definitions import build_resources
    from podcast_assets.defs.analysis import aligned_segments
    from podcast_assets.defs.ingest import document_graphs, transcriptions
    from podcast_assets.defs.partitions import training_pairs
    from podcast_assets.defs.trial_items import PairRecords, score_item

    store = LocalArtifactStore(eval_config.storage.root)
    trainer, _ = _trainer(config, store)
    versions = [resolve_version(config, trainer.library, n) for n in names]
    print(f"evaluating {', '.join(f'{n}={v.ref}' for n, v in zip(names, versions))} on {len(pair_ids)} pair(s)")
    ready = []
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(training_pairs.name, pair_ids)
        for pair_id in pair_ids:
            print(f"  {pair_id}: reading the paper, transcribing, aligning ...", flush=True)
            result = materialize(
                [document_graphs, transcriptions, aligned_segments], partition_key=pair_id, instance=instance,
                resources=build_resources(eval_config), raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING" if verbose else "CRITICAL"}}}},
            )  # fmt: skip
            if result.success:
                ready.append(pair_id)
            else:
                for reason in failure_reasons(result) or ["see the run's log (--verbose prints it)"]:
                    print(f"  {pair_id}: FAILED: {reason}", file=sys.stderr)
    rows: dict[str, dict[str, float]] = {}
    for pair_id in ready:
        pair = PairRecords.load(store, pair_id)
        for name, version in zip(names, versions, strict=True):
            try:
                item, cached = score_item(trainer, pair, trial_id=f"eval-{name}", split="validation", version=version,
                                          target_depth=config.training.target_depth)  # fmt: skip
            except PodcastAssetsError as exc:
                print(f"  {pair_id} {name}: FAILED: {exc}", file=sys.stderr)
                continue
            rows.setdefault(pair_id, {})[name] = item.losses.total
            parts = " ".join(f"{n}={getattr(item.losses, n):.3f}" for n in ("duration", "coverage", "structure", "quality", "rouge"))
            print(f"  {pair_id} {name} ({version.ref}): total {item.losses.total:.4f} ({parts})"
                  + (" [cached]" if cached else ""), flush=True)  # fmt: skip
    if not rows:
        print("error: no pair could be scored", file=sys.stderr)
        return 1
    print(f"\n| pair | {' | '.join(f'{n} ({v.ref})' for n, v in zip(names, versions))} |")
    print("|---|" + "---|" * len(names))
    for pair_id, scores in rows.items():
        print(f"| {pair_id} | " + " | ".join(f"{scores[n]:.4f}" if n in scores else "-" for n in names) + " |")
    means = [statistics.fmean(r[n] for r in rows.values() if n in r) if any(n in r for r in rows.values()) else None
             for n in names]  # fmt: skip
    print("| **mean** | " + " | ".join("-" if m is None else f"**{m:.4f}**" for m in means) + " |")
    first = {p: r[names[0]] for p, r in rows.items() if names[0] in r}
    for name in names[1:]:
        step = paired_improvement(first, {p: r[name] for p, r in rows.items() if name in r})
        if step is not None:
            print(f"\n{name} over {names[0]}: {step} (90% paired-bootstrap interval; positive is better)")
    return 0


def generate(config: PipelineConfig, pdf: Path, depth: str, out: Path, *, version: str = "best") -> int:
    """A new paper to a script and its audio in `out` (one generation per folder at a time)."""
    if (taken := next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)) is not None:
        where = "" if taken == out else f" on the way to {out}"
        raise PodcastAssetsError(
            f"--out must be a folder, and this is an existing file{where}",
            path=taken,
            fix="give a folder (new or existing) for script.json, script.md and the audio, or move the file",
        )
    with holding(out, "the output folder"):
        return _generate(config, pdf, depth, out, version)


def _generate(config: PipelineConfig, pdf: Path, depth: str, out: Path, version: str) -> int:
    """The episode of `pdf` written, spoken to length and heard back into `out` (held by this run)."""
    from podcast_assets.core.training.trial import SpeechChecks, check_round_trip, speak_to_length
    from podcast_assets.defs.trial_items import writing_services

    store = open_store(config.storage)
    trainer, resources = _trainer(config, store)
    chosen = resolve_version(config, trainer.library, version)
    print(f"reading {pdf} ...", flush=True)
    graph, _images = resources["pdf_extractor"].extract(pdf)
    plan = trainer.profile.depth_targets[depth]
    target = plan.target_minutes * 60
    concepts = [k.phrase for k in graph.key_concepts[: plan.key_concepts]]
    calls = None
    if trainer.llm.enabled:
        from podcast_assets.core.training import llm_tasks

        calls = llm_tasks.LLMCalls(complete_json=trainer.llm.complete_json)
    write, refit, speak = writing_services(trainer, graph, chosen, target_seconds=target, depth=depth,
                                           concepts=concepts, pair_id=None, calls=calls, log=print)  # fmt: skip
    print(f"writing a {depth} podcast ({plan.target_minutes:g} min) with {chosen.ref} ...", flush=True)
    script = write()
    settings = trainer.training.settings()
    checks = SpeechChecks(target_seconds=target, tolerance=settings.length_tolerance,
                          max_passes=settings.max_length_passes, max_wer=settings.max_round_trip_wer,
                          words_per_minute=chosen.settings.words_per_minute)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as work:
        audio = Path(work) / f"podcast.{trainer.tts.extension()}"
        script, spoken, lengths, _ = speak_to_length(script, audio, speak, refit, checks)
        print("transcribing it back to check the speech ...", flush=True)
        wer = check_round_trip(script, spoken, trainer.asr.transcribe(audio), audio, checks)
        final = out / audio.name
        audio.replace(final)
    (out / "script.json").write_text(script.model_dump_json(indent=1))
    lines = [f"# {script.title}", "", f"{script.writer}, {chosen.ref}, {depth}", ""]
    lines += [f"**{s.speaker}** ({s.type}): {s.text}\n" for s in script.segments]
    (out / "script.md").write_text("\n".join(lines))
    print(f"wrote {out / 'script.md'} ({script.word_count} words) and {final} "
          f"({spoken.audio_seconds / 60:.1f} min after {len(lengths)} pass(es); round-trip WER {wer:.1%})")  # fmt: skip
    return 0
