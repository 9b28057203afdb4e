"""The training stage: prompt versions, the script writer, losses, convergence and refinement, the split.

Pure logic: no Dagster, no network. Speech (TTS) and the LLM are resources; this package receives their
results (a measured audio file, a recognised transcript, a validated reply) and reasons about them.
"""
