"""screening domain."""
