"""Pure logic of podcast-assets, grouped by stage as the data flows. Nothing in this package imports dagster
(tests/core/test_purity.py).

    ingest/     pairs on disk, the paper (pdf/) and the podcast (audio, transcript), key concepts
    analysis/   segmentation, alignment, segment typing, the pair check, profiles, the aggregate
    (here)      what every stage shares: config, records, storage, errors, text, metrics, llm, previews
"""
