"""Shared plumbing: settings, database, errors, time, identifiers, PII crypto."""
