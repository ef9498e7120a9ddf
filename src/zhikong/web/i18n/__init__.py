"""User-interface translations (Babel message catalogues).

The catalogues live beside this module as ``<locale>/LC_MESSAGES/messages.po`` (``zh_CN`` is the
default language, ``en`` the alternative). Message ids are English. The ``.po`` files are the
committed source; they are compiled in memory on first use (a compiled ``messages.mo`` next to a
``.po`` is used instead when it is newer), so no build step is needed at run time.

Workflow (see ``docs/web.md``)::

    pybabel extract -F src/zhikong/web/i18n/babel.cfg -k N_ -o src/zhikong/web/i18n/messages.pot src
    pybabel update -i src/zhikong/web/i18n/messages.pot -d src/zhikong/web/i18n
    pybabel compile -d src/zhikong/web/i18n        # optional

>>> translations("en").gettext("Map")
'Map'
"""

from __future__ import annotations

import gettext as _gettext
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["COOKIE", "DEFAULT_LOCALE", "LOCALES", "N_", "negotiate", "translations"]

CATALOGUE_DIR: Final = Path(__file__).parent
#: supported locales, the default first, with their names in their own language
LOCALES: Final[dict[str, str]] = {"zh_CN": "中文", "en": "English"}
DEFAULT_LOCALE: Final = "zh_CN"
#: cookie holding the user's chosen language
COOKIE: Final = "zhikong_lang"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (translated when rendered)."""
    return message


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The translations of ``locale`` (``NullTranslations`` for English or an unknown locale)."""
    folder = CATALOGUE_DIR / locale / "LC_MESSAGES"
    po, mo = folder / "messages.po", folder / "messages.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return _gettext.GNUTranslations(fh)
    if not po.is_file():
        return _gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def negotiate(cookie: str | None, accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The locale for a request: the cookie when valid, else the configured default.

    ``Accept-Language`` is deliberately not used to move away from the configured default: the
    platform's users work in Chinese whatever their browser says; it is only consulted when the
    configured default is not a supported locale.
    """
    if cookie is not None and cookie in LOCALES:
        return cookie
    if default in LOCALES:
        return default
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag in LOCALES:
            return tag
        if tag.lower().startswith("zh"):
            return "zh_CN"
        if tag.lower().startswith("en"):
            return "en"
    return DEFAULT_LOCALE
