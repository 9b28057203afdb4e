"""One partition per training pair; keys are pair ids (see podcast_assets.core.pairs)."""

from __future__ import annotations

import dagster as dg

training_pairs = dg.DynamicPartitionsDefinition(name="training_pairs")
