"""Transcript review: the store of reviewed segments (SQLite), their audio clips, the order a person reviews them
in, and how reviewed text replaces the recogniser's in a pair's transcript."""
