"""Re-export of the audit log API (``zhikong.audit``) for callers that look for it under auth."""

from __future__ import annotations

from zhikong.audit.service import record, record_pii_read, verify

__all__ = ["record", "record_pii_read", "verify"]
