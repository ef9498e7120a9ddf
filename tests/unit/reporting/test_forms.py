"""Form definitions as data and value validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhikong.core.errors import InvalidInput, RowErrors
from zhikong.reporting.forms import builtin_forms, coerce_value, load_form_file, parse_form, validate_values


def test_builtin_forms_parse() -> None:
    forms = {f.code: f for f in builtin_forms()}
    assert set(forms) >= {"town_daily", "village_daily"}
    town = forms["town_daily"]
    assert town.tier == "town" and town.deadline == "17:00"
    assert town.field("screened").type == "int" and town.field("screened").required
    assert [f.key for f in town.numeric][:2] == ["screened", "arrivals"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"tier": "province"}, "tier"),
        ({"deadline": "25:00"}, "deadline"),
        ({"code": "Bad Code"}, "code"),
        ({"fields": [{"key": "a", "label": "A", "type": "money"}]}, "fields"),
        (
            {
                "fields": [
                    {"key": "a", "label": "A", "type": "int"},
                    {"key": "a", "label": "B", "type": "int"},
                ]
            },
            "fields",
        ),
    ],
)
def test_bad_definitions_name_the_problem(patch: dict[str, object], field: str) -> None:
    raw = {
        "code": "f",
        "name": "F",
        "tier": "town",
        "deadline": "17:00",
        "fields": [{"key": "a", "label": "A", "type": "int"}],
        **patch,
    }
    with pytest.raises(InvalidInput) as e:
        parse_form(raw, "f.yaml")
    assert e.value.field == field and "f.yaml" in e.value.message


def test_load_form_file(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text(
        "code: x\nname: X\ntier: village\ndeadline: '09:30'\nfields:\n"
        "  - {key: n, label: 数量, type: int, min: 0}\n",
        encoding="utf-8",
    )
    fd = load_form_file(p)
    assert fd.code == "x" and fd.fields[0].min == 0
    p.write_text("code: [unclosed", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"x\.yaml"):
        load_form_file(p)


def test_coerce() -> None:
    town = {f.code: f for f in builtin_forms()}["town_daily"]
    assert coerce_value(town.field("screened"), "1,200") == 1200
    assert coerce_value(town.field("screened"), 12.0) == 12
    assert coerce_value(town.field("checkpoints_ok"), "是") is True
    assert coerce_value(town.field("vaccination_rate"), "93.5") == 93.5
    for bad in ("12.5", "abc", -1, True):
        with pytest.raises(ValueError):
            coerce_value(town.field("screened"), bad)
    with pytest.raises(ValueError, match="不能大于"):
        coerce_value(town.field("vaccination_rate"), 101)
    with pytest.raises(ValueError):
        coerce_value(town.field("vaccination_rate"), "nan")


def test_validate_lists_every_error() -> None:
    town = {f.code: f for f in builtin_forms()}["town_daily"]
    with pytest.raises(RowErrors) as e:
        validate_values(town, {"screened": "x", "arrivals": None, "bogus": 1})
    fields = {x.field for x in e.value.errors}
    assert {"screened", "arrivals", "bogus", "home_quarantine", "checkpoints_ok"} <= fields
    good = validate_values(
        town,
        {
            "screened": 10,
            "arrivals": 1,
            "home_quarantine": 0,
            "central_quarantine": 0,
            "nucleic_tests": 50,
            "checkpoints_ok": "否",
        },
    )
    assert good["checkpoints_ok"] is False and good["notes"] is None
