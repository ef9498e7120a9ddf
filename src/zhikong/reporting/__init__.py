"""reporting domain."""
