"""Audit log: append-only and hash-chained (see ``zhikong.audit.service``)."""

from __future__ import annotations

from zhikong.audit.service import VerifyResult, link_pending, record, record_pii_read, verify

__all__ = ["VerifyResult", "link_pending", "record", "record_pii_read", "verify"]
