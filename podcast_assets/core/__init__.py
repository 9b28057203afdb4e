"""Pure logic of podcast-assets. Nothing in this package imports dagster (tests/core/test_purity.py)."""
