"""Users, roles, jurisdiction, sessions and API tokens.

Other domains use ``restrict(stmt, user, unit_column)`` for every list/read of tasks, alerts and
personal data, and ``Role``/``User`` for role checks.
"""

from __future__ import annotations

from zhikong.auth.models import DISTRICT_ROLES, PII_ROLES, ROLE_LABELS, Role, User
from zhikong.auth.service import jurisdiction_clause, require_role, require_unit, restrict

__all__ = [
    "DISTRICT_ROLES",
    "PII_ROLES",
    "ROLE_LABELS",
    "Role",
    "User",
    "jurisdiction_clause",
    "require_role",
    "require_unit",
    "restrict",
]
