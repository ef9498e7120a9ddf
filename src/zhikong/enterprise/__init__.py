"""enterprise domain."""
