"""The language switch: ``/lang/{code}?next=/page`` stores the choice in a cookie and goes back."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from zhikong.core.errors import NotFound
from zhikong.web.i18n import COOKIE, LOCALES

router = APIRouter(include_in_schema=False)


def safe_next(next_url: str | None) -> str:
    """Only same-site paths are followed (no open redirects)."""
    if not next_url or not next_url.startswith("/") or next_url.startswith("//"):
        return "/"
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or "\\" in next_url:
        return "/"
    return next_url


@router.get("/lang/{code}")
def switch_language(code: str, next: Annotated[str | None, Query()] = None) -> Response:
    """Switch the interface language (stored in a cookie) and go back to the page."""
    if code not in LOCALES:
        raise NotFound(f"unknown language {code!r}; choose one of {', '.join(LOCALES)}", field="code")
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
    return resp
