"""`podcast-assets profile show | structure | style`: print the learned profiles."""

from __future__ import annotations

import argparse
import json
import sys

from podcast_assets.core.analysis.aggregate import aggregated_markdown
from podcast_assets.core.analysis.models import StructureProfile, StyleProfile
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.ingest.pairs import discover_pairs
from podcast_assets.core.storage import pair_record_path
from podcast_assets.resources.storage import open_store


def cmd_profile(args: argparse.Namespace, config: PipelineConfig) -> int:
    """Print the learned profiles: the aggregate (show), or each pair's structure or style."""
    store = open_store(config.storage)
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
