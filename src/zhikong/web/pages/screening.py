"""The screening queue (排查队列): incoming list rows the linkage could not decide, to verify, and the
key persons under control, within the user's jurisdiction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from zhikong.auth.models import User
from zhikong.geo.models import AdminUnit
from zhikong.screening.models import Decision, IncomingList, KeyPerson, KeyStatus, ListLink, ListRow
from zhikong.web.deps import OptionalUser, SessionDep
from zhikong.web.pages import labels
from zhikong.web.pages.common import UserLimit, login_redirect, page

router = APIRouter(include_in_schema=False)


def limit_to(stmt: Any, user: User, unit_column: Any) -> Any:
    """``auth.service.restrict`` for multi-entity selects."""
    return UserLimit(user)(stmt, unit_column)


@router.get("/screening")
def screening_page(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Rows to verify (linked with doubt) and counts of key persons by category and measure."""
    if user is None:
        return login_redirect(request)
    queue = session.execute(limit_to(
        select(ListLink, ListRow, IncomingList.source, IncomingList.list_date, AdminUnit.name)
        .join(ListRow, ListRow.id == ListLink.row_id)
        .join(IncomingList, IncomingList.id == ListRow.list_id)
        .join(AdminUnit, AdminUnit.id == ListLink.unit_id, isouter=True)
        .where(ListLink.decision == Decision.REVIEW)
        .order_by(ListLink.match_probability.desc(), ListLink.id).limit(300), user, ListLink.unit_id)).all()
    decisions = dict(session.execute(limit_to(
        select(ListLink.decision, func.count()).group_by(ListLink.decision), user, ListLink.unit_id)).all())
    key_rows = session.execute(limit_to(
        select(KeyPerson.category, KeyPerson.measure, func.count())
        .where(KeyPerson.status == KeyStatus.ACTIVE)
        .group_by(KeyPerson.category, KeyPerson.measure), user, KeyPerson.unit_id)).all()
    return page(request, user, "screening.html", {
        "queue": queue, "decisions": {str(k): int(v) for k, v in decisions.items()}, "key_rows": key_rows,
        "labels": labels,
    })
