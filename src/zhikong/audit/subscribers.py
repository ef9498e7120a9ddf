"""Link appended audit records into the chain after their transaction commits."""

from __future__ import annotations

from zhikong.audit.linker import link_soon
from zhikong.audit.service import RECORDED_EVENT
from zhikong.core.events import Event, subscribe


@subscribe(RECORDED_EVENT)
def link_after_commit(event: Event) -> None:
    link_soon(event.bind)
