"""The Jinja2 environment of the web pages, with per-request translations.

Templates call ``_("English text")`` (and ``ngettext``); the request's locale (cookie
``zhikong_lang``, default ``Settings.locale``) picks the catalogue. ``render`` is the one way pages
produce HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from zhikong.core.config import get_settings
from zhikong.web.i18n import COOKIE, LOCALES, negotiate, translations

TEMPLATE_DIR: Final = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"


def _tojson_attr(value: Any) -> Markup:
    """JSON safe to embed in a ``<script type="application/json">`` element."""
    text = json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text)


def _domain_template_dirs() -> list[str]:
    """``zhikong/<domain>/templates`` of the domains that bring pages of their own (e.g. facilities);
    their templates extend the command centre's layout."""
    root = TEMPLATE_DIR.parent.parent
    return sorted(str(d) for d in root.glob("*/templates") if d.is_dir() and d != TEMPLATE_DIR)


def make_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(TEMPLATE_DIR)),
                             *(FileSystemLoader(d) for d in _domain_template_dirs())]),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_script"] = _tojson_attr
    return env


ENV: Final = make_environment()


def request_locale(request: Request) -> str:
    """The locale of this request (cookie, else the configured default)."""
    cached = getattr(request.state, "locale", None)
    if isinstance(cached, str):
        return cached
    locale = negotiate(
        request.cookies.get(COOKIE), request.headers.get("accept-language"), get_settings().locale
    )
    request.state.locale = locale
    return locale


def gettext_for(locale: str) -> tuple[Any, Any]:
    """``gettext(msg, **values)`` and ``ngettext(singular, plural, n, **values)`` for a locale."""
    t = translations(locale)

    def gettext(message: str, **values: Any) -> str:
        text = t.gettext(message)
        return text % values if values else text

    def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
        text = t.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    return gettext, ngettext


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` in the request's language."""
    locale = request_locale(request)
    gettext, ngettext = gettext_for(locale)
    ctx: dict[str, Any] = {
        "request": request,
        "locale": locale,
        "html_lang": locale.replace("_", "-"),
        "locales": LOCALES,
        "gettext": gettext,
        "ngettext": ngettext,
        "current_path": request.url.path,
        "csrf_token": getattr(request.state, "csrf_token", ""),
    }
    if context:
        ctx.update(context)
    html = ENV.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status_code)
