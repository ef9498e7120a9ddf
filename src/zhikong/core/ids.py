"""Identifiers for records (not for people: see ``zhikong.people.idcard``)."""

from __future__ import annotations

import secrets
import uuid


def new_uuid() -> str:
    return str(uuid.uuid4())


def short_code(n: int = 10) -> str:
    """A URL-safe random code without look-alike characters (for follow-up codes, links)."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(n))
