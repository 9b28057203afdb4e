"""The LLM as a labeller (the oracle): calibrated against trusted hand labels before it labels at scale."""
