"""video domain."""
