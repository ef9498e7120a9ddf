"""Key persons (重点人员): category, source, status and the control measure from the policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.core.errors import ConfigError, InvalidInput
from zhikong.core.events import publish
from zhikong.core.time import CHINA_TZ, utcnow
from zhikong.people.models import Person
from zhikong.screening.models import (
    ControlMeasure,
    KeyCategory,
    KeyPerson,
    KeyStatus,
    ListRow,
    ListSource,
)

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")


@dataclass(frozen=True)
class MeasureRule:
    measure: ControlMeasure
    days: int


@dataclass(frozen=True)
class ControlPolicy:
    edition: str
    rules: dict[KeyCategory, MeasureRule]

    def measure_for(self, category: KeyCategory, start: date) -> tuple[ControlMeasure, date, date]:
        rule = self.rules[category]
        return rule.measure, start, start + timedelta(days=rule.days)


@lru_cache(maxsize=8)
def load_policy(path: Path = DEFAULT_POLICY) -> ControlPolicy:
    """Read a control-measure policy (YAML); every category must have a measure and days."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = {KeyCategory(k): MeasureRule(ControlMeasure(v["measure"]), int(v["days"]))
                 for k, v in data["measures"].items()}
        edition = str(data["edition"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as e:
        raise ConfigError(f"bad control policy {path}: {e}") from e
    missing = [c.value for c in KeyCategory if c not in rules]
    if missing:
        raise ConfigError(f"control policy {path} has no measure for {', '.join(missing)}")
    return ControlPolicy(edition, rules)


def category_for(session: Session, source: ListSource, row: ListRow) -> KeyCategory | None:
    """The key-person category a linked row of a list of ``source`` implies (or none)."""
    from zhikong.screening.service import was_risk_area

    if source in (ListSource.TELECOM, ListSource.TRAVEL):
        if not row.origin_city:
            return None
        day = row.event_date or date.today()
        at = datetime.combine(day, time(12), tzinfo=CHINA_TZ)
        return KeyCategory.RISK_AREA_ARRIVAL if was_risk_area(session, row.origin_city, at) else None
    if source == ListSource.NETIZEN:
        return KeyCategory.NETIZEN_REPORT
    if source == ListSource.CDC:
        return KeyCategory.CASE
    return None


def add_key_person(session: Session, *, category: KeyCategory | str, person: Person | None,
                   source: str, start: date, row: ListRow | None = None,
                   policy: ControlPolicy | None = None) -> KeyPerson | None:
    """Register someone under control; ``None`` when they are already active in that category."""
    cat = KeyCategory(category)
    if person is None and row is None:
        raise InvalidInput("a key person needs a ledger person or a list row", field="person")
    if person is not None:
        existing = session.scalar(select(KeyPerson).where(
            KeyPerson.person_id == person.id, KeyPerson.category == cat,
            KeyPerson.status == KeyStatus.ACTIVE))
        if existing is not None:
            return None
    pol = policy or load_policy()
    measure, begin, end = pol.measure_for(cat, start)
    kp = KeyPerson(person_id=person.id if person else None, list_row_id=row.id if row else None,
                   name=person.name if person else (row.name if row else None), category=cat,
                   source=source, status=KeyStatus.ACTIVE, measure=measure, start_date=begin,
                   end_date=end, policy_edition=pol.edition,
                   unit_id=person.village_id if person else None)
    session.add(kp)
    session.flush()
    publish("screening.key_persons_changed", {"at": utcnow().isoformat()}, session=session, coalesce=True)
    return kp


def release_due(session: Session, today: date) -> int:
    """Mark active key persons whose measure has ended as released; returns how many."""
    due = session.scalars(select(KeyPerson).where(KeyPerson.status == KeyStatus.ACTIVE,
                                                  KeyPerson.end_date <= today)).all()
    for kp in due:
        kp.status = KeyStatus.RELEASED
    session.flush()
    if due:
        publish("screening.key_persons_changed", {"at": utcnow().isoformat()}, session=session,
                coalesce=True)
    return len(due)
