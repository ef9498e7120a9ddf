"""Case page and screening queue: they show what the tracing and screening domains have stored.

While those domains store no cases or screening results in the operational database, the pages say
so plainly (an empty state with the command that produces the data) instead of inventing rows.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from zhikong.web.deps import OptionalUser
from zhikong.web.i18n import N_
from zhikong.web.pages.common import login_redirect, page

router = APIRouter(include_in_schema=False)

#: page path -> (title, domain, the ORM class that would hold its rows, how the data is produced)
PAGES: dict[str, tuple[str, str, str, str]] = {
    "/cases": (N_("Cases"), "tracing", "Case", "zhikong trace"),
    "/screening": (N_("Screening queue"), "screening", "ScreeningItem", "zhikong screening"),
}


def _model(domain: str, name: str) -> Any | None:
    try:
        module = importlib.import_module(f"zhikong.{domain}.models")
    except ModuleNotFoundError:
        return None
    return getattr(module, name, None)


def _pending(request: Request, user: Any, path: str) -> Response:
    title, domain, model, command = PAGES[path]
    return page(request, user, "pending.html", {"title": title, "domain": domain, "command": command,
                                                "available": _model(domain, model) is not None})


@router.get("/cases")
def cases_page(request: Request, user: OptionalUser) -> Response:
    """Cases and their contacts (from the tracing engine)."""
    if user is None:
        return login_redirect(request)
    return _pending(request, user, "/cases")


@router.get("/screening")
def screening_page(request: Request, user: OptionalUser) -> Response:
    """The screening queue (from the screening domain)."""
    if user is None:
        return login_redirect(request)
    return _pending(request, user, "/screening")
