"""Cases (病例) and a case's contacts by class with the transmission chain, from the tracing engine.

A case is visible when the person lives in the user's jurisdiction (district roles see every case);
its contacts are listed within the jurisdiction only, and opening a case's contacts is written to the
audit log (``audit.record_pii_read(..., "contacts")``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.audit.service import record_pii_read
from zhikong.auth.models import User
from zhikong.core.errors import NotFound
from zhikong.people.models import Person
from zhikong.tracing.models import Case, Contact, ContactClass
from zhikong.web.deps import OptionalUser, SessionDep
from zhikong.web.pages import labels
from zhikong.web.pages.common import RowId, UserLimit, error_page, login_redirect, page
from zhikong.web.pages.tasks import local_time
from zhikong.web.pages.templating import gettext_for, request_locale

router = APIRouter(include_in_schema=False)


def limit_to(stmt: Any, user: User, unit_column: Any) -> Any:
    """``auth.service.restrict`` for multi-entity selects."""
    return UserLimit(user)(stmt, unit_column)


def _cases_stmt(user: User) -> Any:
    stmt = select(Case, Person).join(Person, Person.id == Case.person_id, isouter=True)
    return limit_to(stmt, user, Person.village_id)


@router.get("/cases")
def cases_page(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Cases in your jurisdiction with their contacts per class."""
    if user is None:
        return login_redirect(request)
    rows = session.execute(_cases_stmt(user).order_by(Case.onset_at.desc()).limit(500)).all()
    ids = [c.id for c, _ in rows]
    counts: dict[int, dict[str, int]] = {}
    if ids:
        for case_id, cls, n in session.execute(
                select(Contact.case_id, Contact.cls, func.count(func.distinct(Contact.person_key)))
                .where(Contact.case_id.in_(ids)).group_by(Contact.case_id, Contact.cls)).all():
            counts.setdefault(case_id, {})[str(cls)] = int(n)
    return page(request, user, "cases.html", {"rows": rows, "counts": counts, "labels": labels,
                                               "local_time": local_time, "classes": list(ContactClass)})


def chain_graph(case: Case, contacts: list[tuple[Contact, Person | None]]) -> dict[str, Any]:
    """Nodes and links of the transmission chain: the case, then each contact linked from the person
    it was reached through (``via_person_key``) or from the case."""
    def label(person: Person | None, key: str) -> str:
        return person.name if person is not None else key[:6]

    nodes = [{"id": case.person_key, "name": case.person_key[:6], "category": "case"}]
    seen = {case.person_key}
    links = []
    for contact, person in contacts:
        if contact.person_key not in seen:
            nodes.append({"id": contact.person_key, "name": label(person, contact.person_key),
                          "category": str(contact.cls)})
            seen.add(contact.person_key)
        links.append({"source": contact.via_person_key or case.person_key, "target": contact.person_key})
    for link in links:
        if link["source"] not in seen:
            nodes.append({"id": link["source"], "name": link["source"][:6], "category": "secondary"})
            seen.add(link["source"])
    return {"nodes": nodes, "links": links}


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: RowId, session: SessionDep, user: OptionalUser) -> Response:
    """A case: its contacts by class (within your jurisdiction), their evidence and the chain."""
    if user is None:
        return login_redirect(request)
    row = session.execute(_cases_stmt(user).where(Case.id == case_id)).first()
    if row is None:
        return error_page(request, user, NotFound(f"no case {case_id} in your jurisdiction", field="case_id"))
    case, person = row
    contacts = _contacts(session, user, case)
    total = session.scalar(select(func.count()).select_from(Contact).where(Contact.case_id == case.id)) or 0
    record_pii_read(session, user, case.person_id or case.person_key, "contacts", case_id=case.id,
                    shown=len(contacts))
    graph = chain_graph(case, contacts)
    gettext, _ = gettext_for(request_locale(request))
    graph["categories"] = [gettext("Case")] + [gettext(labels.CONTACT_CLASSES[c.value]) for c in ContactClass]
    if person is not None:
        graph["nodes"][0]["name"] = person.name
    by_class: dict[str, list[tuple[Contact, Person | None]]] = {}
    for contact, p in contacts:
        by_class.setdefault(str(contact.cls), []).append((contact, p))
    return page(request, user, "case.html", {
        "case": case, "person": person, "by_class": by_class, "hidden": int(total) - len(contacts),
        "labels": labels, "local_time": local_time, "graph": graph,
    })


def _contacts(session: Session, user: User, case: Case) -> list[tuple[Contact, Person | None]]:
    stmt = (select(Contact, Person).join(Person, Person.id == Contact.person_id, isouter=True)
            .where(Contact.case_id == case.id))
    if not user.sees_all:
        stmt = limit_to(stmt, user, Person.village_id)
    return [(c, p) for c, p in session.execute(stmt.order_by(Contact.cls, Contact.score.desc())).all()]
