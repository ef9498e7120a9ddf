"""sim domain."""
