"""facilities domain."""
