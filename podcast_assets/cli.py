"""The user's command line: `podcast-assets pairs add|list|remove`, `train` and `profile show|structure|style`.

Runs are recorded in the Dagster instance at $DAGSTER_HOME (default: `.dagster_home` in the project),
so what the CLI does shows up in `dagster dev` and `dagster asset materialize` sees its partitions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from podcast_assets.core.config import PipelineConfig, load_config
from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.ingest.models import PairMeta
from podcast_assets.core.ingest.pairs import add_pair, discover_pairs, remove_pair
from podcast_assets.core.storage import PAIRS_PREFIX


def _project_root(config: PipelineConfig) -> Path:
    if config.source is not None and config.source.parent.name == "configs":
        return config.source.parent.parent.resolve()
    return Path.cwd()


def _instance(config: PipelineConfig):
    """The persistent Dagster instance at $DAGSTER_HOME, else at `.dagster_home` beside configs/ (created if
    missing, with the instance settings of configs/dagster/dagster.yaml: pool limits, run monitoring)."""
    import dagster as dg

    root = _project_root(config)
    home = Path(os.environ.get("DAGSTER_HOME") or root / ".dagster_home").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    template = root / "configs" / "dagster" / "dagster.yaml"
    if template.is_file() and not (home / "dagster.yaml").exists():
        shutil.copyfile(template, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def _register(config: PipelineConfig, add: list[str] = (), remove: list[str] = ()) -> str:
    from podcast_assets.defs.partitions import training_pairs

    instance = _instance(config)
    existing = set(instance.get_dynamic_partitions(training_pairs.name))
    if new := [p for p in add if p not in existing]:
        instance.add_dynamic_partitions(training_pairs.name, new)
    for pair_id in remove:
        if pair_id in existing:
            instance.delete_dynamic_partition(training_pairs.name, pair_id)
    return os.environ["DAGSTER_HOME"]


def cmd_pairs_add(args: argparse.Namespace, config: PipelineConfig) -> int:
    meta = PairMeta(
        speaker_gender=args.speaker_gender, source=args.source, language=args.language, speakers=args.speakers
    )
    files = add_pair(config.pairs_dir, pdf=args.pdf, audio=args.audio, pair_id=args.id, meta=meta, replace=args.replace)
    home = _register(config, add=[files.pair_id])
    print(f"added pair {files.pair_id!r} in {files.folder}")
    print(f"registered partition {files.pair_id!r} in the Dagster instance at {home}")
    print(
        f"materialize it with:  DAGSTER_HOME={home} dagster asset materialize -m podcast_assets.definitions "
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
    remove_pair(config.pairs_dir, args.id)
    home = _register(config, remove=[args.id])
    print(f"removed pair {args.id!r} and its partition (instance at {home}); stored artifacts are kept")
    return 0


def _failure_reasons(result) -> list[str]:
    """One line per failed step: the actionable description of a dagster.Failure, else the error message."""
    reasons = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                text = data.user_failure_data.description
            else:
                text = data.error.message.strip() if data.error else "unknown error"
            reasons.append(f"{event.step_key}: {text}")
    return reasons


def _aggregate(defs, instance, run_config) -> bool:
    """Learn the aggregated profile from the pairs that have profiles; print the outcome."""
    from podcast_assets.defs.jobs import AGGREGATE_JOB_NAME

    print("aggregating the profiles of all pairs ...", flush=True)
    result = defs.resolve_job_def(AGGREGATE_JOB_NAME).execute_in_process(
        instance=instance, run_config=run_config, raise_on_error=False, tags={"launched_by": "podcast-assets train"}
    )
    if not result.success:
        for reason in _failure_reasons(result):
            print(f"    {reason}", file=sys.stderr)
        return False
    [mat] = result.asset_materializations_for_node("aggregated_profile")
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    print(f"aggregated profile v{meta['version']} from {len(meta['pairs_used'])} pair(s): {meta['canonical_sequence']}")
    return True


def cmd_train(args: argparse.Namespace, config: PipelineConfig) -> int:
    """Run every per-pair asset for each pair (or the chosen ones), one pair at a time, in this process."""
    from podcast_assets.definitions import build_definitions
    from podcast_assets.defs.jobs import PAIR_JOB_NAME

    discovery = discover_pairs(config.pairs_dir)
    for problem in discovery.problems:
        print(f"! {problem}", file=sys.stderr)
    pair_ids = args.pair or list(discovery.pairs)
    unknown = [p for p in pair_ids if p not in discovery.pairs]
    if unknown:
        print(f"error: no such pair(s) in {config.pairs_dir}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if not pair_ids:
        print(f"error: no training pairs in {config.pairs_dir}; add one with `podcast-assets pairs add`", file=sys.stderr)
        return 2
    home = _register(config, add=pair_ids)
    defs = build_definitions(config)
    job = defs.resolve_job_def(PAIR_JOB_NAME)
    instance = _instance(config)
    run_config = {"loggers": {"console": {"config": {"log_level": args.log_level}}}}
    failed: list[str] = []
    print(f"training on {len(pair_ids)} pair(s) from {config.pairs_dir}; Dagster instance: {home}")
    for n, pair_id in enumerate(pair_ids, 1):
        started = time.perf_counter()
        print(f"[{n}/{len(pair_ids)}] {pair_id} ...", flush=True)
        result = job.execute_in_process(
            partition_key=pair_id, instance=instance, run_config=run_config, raise_on_error=False, tags={"launched_by": "podcast-assets train"}
        )
        status = "ok" if result.success else "FAILED"
        print(f"[{n}/{len(pair_ids)}] {pair_id}: {status} in {time.perf_counter() - started:.1f} s (run {result.run_id})", flush=True)
        if not result.success:
            failed.append(pair_id)
            for reason in _failure_reasons(result):
                print(f"    {reason}", file=sys.stderr)
    aggregated_ok = _aggregate(defs, instance, run_config) if len(failed) < len(pair_ids) else False
    print(f"\nper-pair results: {config.storage.root / PAIRS_PREFIX}/<pair_id>/*.json")
    if aggregated_ok:
        print(f"aggregated profile: {config.storage.root / 'profiles' / 'current.json'}  (podcast-assets profile show)")
    print(f"browse them: DAGSTER_HOME={home} dagster dev   (then open http://127.0.0.1:3000)")
    if failed:
        print(f"{len(failed)} of {len(pair_ids)} pair(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 0 if aggregated_ok and not failed else 1


def cmd_profile(args: argparse.Namespace, config: PipelineConfig) -> int:
    """Print the learned profiles: the aggregate (show), or each pair's structure or style."""
    from podcast_assets.core.analysis.aggregate import aggregated_markdown
    from podcast_assets.core.analysis.models import StructureProfile, StyleProfile
    from podcast_assets.core.analysis.profile_store import load_current
    from podcast_assets.core.storage import LocalArtifactStore, pair_record_path

    store = LocalArtifactStore(config.storage.root)
    if args.what == "show":
        profile = load_current(store)
        if profile is None:
            print(f"error: no aggregated profile in {store.root}; run `podcast-assets train` first", file=sys.stderr)
            return 2
        print(aggregated_markdown(profile))
        return 0
    cls, name = (StructureProfile, "structure_profile") if args.what == "structure" else (StyleProfile, "style_profile")
    pair_ids = args.pair or sorted(discover_pairs(config.pairs_dir).pairs)
    shown = 0
    for pair_id in pair_ids:
        rel = pair_record_path(pair_id, name)
        if not store.exists(rel):
            print(f"{pair_id}: no {name} yet (run `podcast-assets train --pair {pair_id}`)", file=sys.stderr)
            continue
        print(f"## {pair_id}\n\n{_record_table(store.read_model(rel, cls))}\n")
        shown += 1
    return 0 if shown else 2


def _record_table(record) -> str:
    """A two-column markdown table of a record's fields (long values shortened)."""
    rows = ["| field | value |", "|---|---|"]
    for key, value in record.model_dump().items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append(f"| {key} | {text[:160] + '…' if len(text) > 160 else text} |")
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podcast-assets", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="pipeline settings (default: configs/pipeline.yaml or $PODCAST_ASSETS_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    pairs = sub.add_parser("pairs", help="manage training pairs").add_subparsers(dest="pairs_command", required=True)
    add = pairs.add_parser("add", help="copy a paper and its podcast into the pairs folder and register the partition")
    add.add_argument("--pdf", type=Path, required=True, help="the paper (PDF)")
    add.add_argument("--audio", type=Path, required=True, help="the podcast (mp3, wav, m4a, flac, ogg)")
    add.add_argument("--id", help="pair id, [a-z0-9._-] (default: made from the PDF's file name)")
    add.add_argument("--speaker-gender", choices=["female", "male", "mixed", "unknown"], default="unknown")
    add.add_argument("--source", help="where the pair comes from (URL, repository, ...)")
    add.add_argument("--language", default="en", help="ISO 639 code of the podcast (default: en)")
    add.add_argument("--speakers", type=int, help="number of voices in the podcast")
    add.add_argument("--replace", action="store_true", help="replace an existing pair with the same id")
    add.set_defaults(func=cmd_pairs_add)
    pairs.add_parser("list", help="list the pairs and what is missing").set_defaults(func=cmd_pairs_list)
    remove = pairs.add_parser("remove", help="delete a pair folder and its partition")
    remove.add_argument("id")
    remove.set_defaults(func=cmd_pairs_remove)

    train = sub.add_parser("train", help="materialize every per-pair asset for all pairs (the main job)")
    train.add_argument("--pair", action="append", help="only this pair (repeatable)")
    train.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="Dagster log level shown (default: INFO)")
    train.set_defaults(func=cmd_train)

    profile = sub.add_parser("profile", help="print the learned profiles")
    profile.add_argument("what", choices=["show", "structure", "style"], help="show: the aggregated profile; structure / style: per pair")
    profile.add_argument("--pair", action="append", help="only this pair (repeatable; structure and style)")
    profile.set_defaults(func=cmd_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        return args.func(args, config)
    except PodcastAssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
