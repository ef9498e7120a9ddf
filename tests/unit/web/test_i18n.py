"""Message catalogues: complete, used by the templates, and no user-visible text hard-coded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from zhikong.web.i18n import CATALOGUE_DIR, DEFAULT_LOCALE, LOCALES, negotiate, translations
from zhikong.web.pages.templating import ENV, TEMPLATE_DIR, _domain_template_dirs

POT = CATALOGUE_DIR / "messages.pot"
#: the command centre's templates and those the domains bring (enterprise, facilities, …)
TEMPLATE_DIRS = [TEMPLATE_DIR, *(Path(d) for d in _domain_template_dirs())]
TEMPLATES = {f"{d.parent.name}/{p.relative_to(d)}": p for d in TEMPLATE_DIRS for p in d.rglob("*.html")}


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
    for tpl in TEMPLATES.values():
        used |= set(re.findall(r"""_\(\s*"((?:[^"\\]|\\.)*)"\s*[,)]""", tpl.read_text()))
        used |= set(re.findall(r"""_\(\s*'((?:[^'\\]|\\.)*)'\s*[,)]""", tpl.read_text()))
    assert used, "templates use no translatable strings?"
    assert used - pot == set()


_VISIBLE = re.compile(r"[A-Za-z\u4e00-\u9fff]")


def test_domain_templates_are_covered() -> None:
    assert {"enterprise/ent_register.html", "facilities/facilities_dashboard.html"} <= set(TEMPLATES)


@pytest.mark.parametrize("tpl", sorted(TEMPLATES))
def test_templates_hard_code_no_visible_text(tpl: str) -> None:
    text = TEMPLATES[tpl].read_text()
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
    raw = TEMPLATES[tpl].read_text()
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
    for d in TEMPLATE_DIRS:
        for tpl in d.rglob("*.html"):
            ENV.get_template(str(tpl.relative_to(d)))


def test_symptom_labels_cover_every_symptom() -> None:
    from zhikong.facilities.followup import SYMPTOMS
    from zhikong.facilities.pages import SYMPTOM_LABELS

    assert SYMPTOM_LABELS.keys() == SYMPTOMS.keys()
    zh = translations("zh_CN")
    assert [zh.gettext(v) for v in SYMPTOM_LABELS.values()] == list(SYMPTOMS.values())


def test_consent_statement_translates_to_the_stored_text() -> None:
    from zhikong.enterprise.router import CONSENT_TEXT
    from zhikong.enterprise.service import CONSENT_TEXT as ZH_TEXT

    assert translations("zh_CN").gettext(CONSENT_TEXT) == ZH_TEXT
