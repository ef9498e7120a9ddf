"""Report form definitions as data: parse and check the YAML, validate submitted values.

A form names its fields (``key``, ``label``, ``type`` one of int/float/bool/text, ``min``/``max``,
``max_length``, ``required``), the tier that reports (``town`` or ``village``), the local deadline
``HH:MM`` and ``overdue_after_hours``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from zhikong.core.errors import InvalidInput, RowError, RowErrors

FIELD_TYPES = ("int", "float", "bool", "text")
TIERS = ("town", "village")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
TRUE_WORDS = {"1", "true", "yes", "y", "是", "有", "√", "✓"}
FALSE_WORDS = {"0", "false", "no", "n", "否", "无", "×", "x"}


@dataclass(frozen=True)
class FieldDef:
    key: str
    label: str
    type: str
    required: bool = False
    label_en: str = ""
    min: float | None = None
    max: float | None = None
    max_length: int = 500


@dataclass(frozen=True)
class FormDef:
    code: str
    name: str
    tier: str
    deadline: str
    overdue_after_hours: float
    fields: tuple[FieldDef, ...]
    name_en: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def field(self, key: str) -> FieldDef:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    @property
    def numeric(self) -> list[FieldDef]:
        return [f for f in self.fields if f.type in ("int", "float")]


def parse_form(raw: Any, origin: str = "form") -> FormDef:
    """Check one form definition; ``InvalidInput`` names the file and the bad entry."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{origin}: a form must be a mapping", field="form")

    def need(key: str) -> Any:
        if key not in raw or raw[key] in (None, ""):
            raise InvalidInput(f"{origin}: missing {key!r}", field=key)
        return raw[key]

    code = str(need("code"))
    if not _KEY.match(code):
        raise InvalidInput(f"{origin}: code {code!r} must be lower-case letters, digits, _", field="code")
    tier = str(need("tier"))
    if tier not in TIERS:
        raise InvalidInput(f"{origin}: tier must be one of {', '.join(TIERS)}, not {tier!r}", field="tier")
    deadline = str(need("deadline"))
    if not _TIME.match(deadline):
        raise InvalidInput(f"{origin}: deadline {deadline!r} is not HH:MM", field="deadline")
    fields_raw = need("fields")
    if not isinstance(fields_raw, list):
        raise InvalidInput(f"{origin}: fields must be a list", field="fields")
    fields: list[FieldDef] = []
    seen: set[str] = set()
    for i, f in enumerate(fields_raw, 1):
        where = f"{origin}: field #{i}"
        if not isinstance(f, dict) or "key" not in f or "label" not in f or "type" not in f:
            raise InvalidInput(f"{where} needs key, label and type", field="fields")
        key = str(f["key"])
        if not _KEY.match(key) or key in seen:
            raise InvalidInput(f"{where}: key {key!r} is invalid or repeated", field="fields")
        seen.add(key)
        if f["type"] not in FIELD_TYPES:
            raise InvalidInput(
                f"{where} ({key}): type must be one of {', '.join(FIELD_TYPES)}", field="fields"
            )
        fields.append(
            FieldDef(
                key=key,
                label=str(f["label"]),
                type=str(f["type"]),
                required=bool(f.get("required", False)),
                label_en=str(f.get("label_en", "")),
                min=f.get("min"),
                max=f.get("max"),
                max_length=int(f.get("max_length", 500)),
            )
        )
    return FormDef(
        code=code,
        name=str(need("name")),
        tier=tier,
        deadline=deadline,
        overdue_after_hours=float(raw.get("overdue_after_hours", 2)),
        fields=tuple(fields),
        name_en=str(raw.get("name_en", "")),
        raw=raw,
    )


def load_form_file(path: Path) -> FormDef:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise InvalidInput(f"{path.name}: not valid YAML: {e}", field="form") from e
    return parse_form(raw, path.name)


def builtin_forms() -> list[FormDef]:
    """The forms shipped in ``zhikong/reporting/forms/``."""
    root = resources.files("zhikong.reporting") / "forms"
    out = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            out.append(parse_form(yaml.safe_load(entry.read_text(encoding="utf-8")), entry.name))
    return out


def coerce_value(f: FieldDef, value: Any) -> Any:
    """One value converted to the field's type; ``ValueError`` says what is wrong (in Chinese)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if f.required:
            raise ValueError("必填项为空")
        return None
    if f.type == "int":
        if isinstance(value, bool):
            raise ValueError(f"应为整数，不是 {value!r}")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"应为整数，不是 {value}")
            value = int(value)
        if isinstance(value, str):
            text = value.strip().replace(",", "")
            if not re.fullmatch(r"[+-]?\d+", text):
                raise ValueError(f"应为整数，不是 {value!r}")
            value = int(text)
        if not isinstance(value, int):
            raise ValueError(f"应为整数，不是 {value!r}")
        _check_range(f, value)
        return value
    if f.type == "float":
        if isinstance(value, bool):
            raise ValueError(f"应为数字，不是 {value!r}")
        try:
            num = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"应为数字，不是 {value!r}") from e
        if num != num or num in (float("inf"), float("-inf")):
            raise ValueError("应为有限数字")
        _check_range(f, num)
        return num
    if f.type == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValueError(f"应为 是/否，不是 {value!r}")
    text = str(value).strip()
    if len(text) > f.max_length:
        raise ValueError(f"超过 {f.max_length} 字")
    return text


def _check_range(f: FieldDef, value: float) -> None:
    if f.min is not None and value < f.min:
        raise ValueError(f"不能小于 {f.min}")
    if f.max is not None and value > f.max:
        raise ValueError(f"不能大于 {f.max}")


def validate_values(form: FormDef, values: dict[str, Any], row: int | None = None) -> dict[str, Any]:
    """All of a report's values checked; every problem listed at once (``RowErrors``), or the clean dict."""
    unknown = sorted(set(values) - {f.key for f in form.fields})
    errors: list[RowError] = [RowError(row or 0, k, "表单中没有这一项") for k in unknown]
    clean: dict[str, Any] = {}
    for f in form.fields:
        try:
            clean[f.key] = coerce_value(f, values.get(f.key))
        except ValueError as e:
            errors.append(RowError(row or 0, f.key, f"{f.label}: {e}"))
    if errors:
        raise RowErrors(errors)
    return clean
