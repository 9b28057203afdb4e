"""`podcast-assets pairs add | list | remove`: the pairs folder and the partitions that mirror it."""

from __future__ import annotations

import argparse

from podcast_assets.cli.instance import dagster_instance, register
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.ingest.models import PairMeta
from podcast_assets.core.ingest.pairs import add_pair, check_inputs, discover_pairs, remove_pair
from podcast_assets.resources.storage import open_store


def cmd_pairs_add(args: argparse.Namespace, config: PipelineConfig) -> int:
    check_inputs(args.pdf, args.audio, paper=config.pdf, max_audio_seconds=config.asr.max_audio_seconds)
    meta = PairMeta(
        speaker_gender=args.speaker_gender, source=args.source, language=args.language, speakers=args.speakers
    )
    files = add_pair(config.pairs_dir, pdf=args.pdf, audio=args.audio, pair_id=args.id, meta=meta, replace=args.replace)
    home = register(config, add=[files.pair_id])
    print(f"added pair {files.pair_id!r} in {files.folder}")
    print(f"registered partition {files.pair_id!r} in the Dagster instance at {home}")
    print(
        f"materialize it with:  podcast-assets train --pair {files.pair_id}\n"
        f"                 or:  DAGSTER_HOME={home} dagster asset materialize -m podcast_assets.definitions "
        f"--select transcriptions --partition {files.pair_id}"
    )
    return 0


def cmd_pairs_list(args: argparse.Namespace, config: PipelineConfig) -> int:
    discovery = discover_pairs(config.pairs_dir)
    print(f"pairs in {config.pairs_dir}:")
    for pair_id, files in discovery.pairs.items():
        audio = files.audio.name if files.audio else "MISSING AUDIO"
        paper = files.paper.name if files.paper.is_file() else "MISSING PAPER"
        print(f"  {pair_id:<48} {paper:<14} {audio:<16} {'pair.yaml' if files.meta_file else ''}")
    for problem in discovery.problems:
        print(f"  ! {problem}")
    if not discovery.pairs:
        print("  (none) add one with: podcast-assets pairs add --pdf PAPER.pdf --audio PODCAST.mp3")
    return 0


def cmd_pairs_remove(args: argparse.Namespace, config: PipelineConfig) -> int:
    """Delete the pair's folder and partition; when an aggregated profile exists, learn it again without the pair."""
    from podcast_assets.cli.progress import run_config
    from podcast_assets.cli.train import aggregate, definitions

    remove_pair(config.pairs_dir, args.id)
    home = register(config, remove=[args.id])
    print(f"removed pair {args.id!r} and its partition (instance at {home}); stored artifacts are kept")
    if load_current(open_store(config.storage)) is None:
        return 0
    ok = aggregate(definitions(config), dagster_instance(config), run_config(verbose=args.verbose))
    return 0 if ok else 1
