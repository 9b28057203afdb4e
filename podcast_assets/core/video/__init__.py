"""The video stage's pure core: which visual to show when (alignment.py) and how well it keeps time with the
audio (sync.py). No Dagster and no rendering here."""
