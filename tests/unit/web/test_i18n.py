"""Message catalogues: complete, used by the templates, and no user-visible text hard-coded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from zhikong.web.i18n import CATALOGUE_DIR, DEFAULT_LOCALE, LOCALES, negotiate, translations
from zhikong.web.pages.templating import ENV, TEMPLATE_DIR

POT = CATALOGUE_DIR / "messages.pot"


def _ids(path: Path) -> set[str]:
    with path.open("rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


def test_every_extracted_message_has_a_chinese_translation() -> None:
    with (CATALOGUE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []
    assert _ids(POT) <= {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_catalogues_are_up_to_date_with_the_templates() -> None:
    """Every ``_("...")`` literal in a template is in the .pot (run scripts/i18n.sh update)."""
    pot = _ids(POT)
    used: set[str] = set()
    for tpl in TEMPLATE_DIR.rglob("*.html"):
        used |= set(re.findall(r"""_\(\s*"((?:[^"\\]|\\.)*)"\s*[,)]""", tpl.read_text()))
        used |= set(re.findall(r"""_\(\s*'((?:[^'\\]|\\.)*)'\s*[,)]""", tpl.read_text()))
    assert used, "templates use no translatable strings?"
    assert used - pot == set()


_VISIBLE = re.compile(r"[A-Za-z\u4e00-\u9fff]")


@pytest.mark.parametrize("tpl", sorted(p.name for p in TEMPLATE_DIR.rglob("*.html")))
def test_templates_hard_code_no_visible_text(tpl: str) -> None:
    text = (TEMPLATE_DIR / tpl).read_text()
    text = re.sub(r"\{#.*?#\}", " ", text, flags=re.S)
    text = re.sub(r"\{% block body_class %\}.*?\{% endblock %\}", " ", text, flags=re.S)  # a CSS class
    text = re.sub(r"\{%.*?%\}", " ", text, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}", " ", text, flags=re.S)
    text = re.sub(r"<script\b.*?</script>", " ", text, flags=re.S)
    text = re.sub(r"<style\b.*?</style>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    text = re.sub(r"&[#\w]+;", " ", text)
    leftovers = [w for w in text.split() if _VISIBLE.search(w)]
    assert leftovers == [], f"{tpl}: hard-coded text {leftovers[:10]}"
    # attributes people read (labels for screen readers, placeholders, titles) must be translated too
    raw = (TEMPLATE_DIR / tpl).read_text()
    for attr in re.findall(r'(?:aria-label|placeholder|title|alt)="([^"]*)"', raw):
        bare = re.sub(r"\{\{.*?\}\}", "", attr)
        assert not _VISIBLE.search(bare), f"{tpl}: untranslated attribute {attr!r}"


def test_translations_switch_language() -> None:
    assert translations("zh_CN").gettext("One map") == "一张图"
    assert translations("en").gettext("One map") == "One map"
    assert DEFAULT_LOCALE == "zh_CN" and set(LOCALES) == {"zh_CN", "en"}


@pytest.mark.parametrize(("cookie", "accept", "default", "expected"), [
    (None, None, "zh_CN", "zh_CN"),
    ("en", None, "zh_CN", "en"),
    ("zh_CN", "en-US,en", "en", "zh_CN"),
    ("fr", "en-GB", "zh_CN", "zh_CN"),
    (None, "en-GB,en;q=0.8", "xx", "en"),
    (None, "zh-TW", "xx", "zh_CN"),
    (None, None, "xx", "zh_CN"),
])
def test_negotiate(cookie: str | None, accept: str | None, default: str, expected: str) -> None:
    assert negotiate(cookie, accept, default) == expected


def test_templates_compile() -> None:
    for tpl in TEMPLATE_DIR.rglob("*.html"):
        ENV.get_template(str(tpl.relative_to(TEMPLATE_DIR)))
