"""People (人员): the ledger within the user's jurisdiction, and a person's page.

Identifiers are shown masked. Roles allowed to (``auth.PII_ROLES``) may reveal the full ID number and
phone with a reason; each reveal is written to the audit log before anything is shown.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.audit.service import record_pii_read
from zhikong.auth.models import PII_ROLES, User
from zhikong.auth.service import restrict
from zhikong.core.config import get_settings
from zhikong.core.crypto import get_cipher
from zhikong.core.errors import InvalidInput, NotFound, PermissionDenied, ZhikongError
from zhikong.engine import open_engine
from zhikong.people.models import Person
from zhikong.screening.models import KeyPerson
from zhikong.tracing.models import Case, Contact
from zhikong.tracing.trajectory import SOURCES as TRAJECTORY_SOURCES
from zhikong.tracing.trajectory import Trajectory, query_trajectory, resolve_window
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.i18n import N_
from zhikong.web.pages import labels
from zhikong.web.pages.common import RowId, error_page, login_redirect, page
from zhikong.web.pages.tasks import local_time
from zhikong.web.pages.templating import gettext_for, request_locale

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
RESIDENCE = {"resident": N_("Resident"), "floating": N_("Floating"), "away": N_("Away")}
SEX = {"male": N_("Male"), "female": N_("Female")}
#: legend labels of the trajectory map's sources
SOURCE_LABELS = {"cell": N_("Cell tower stay"), "venue_scan": N_("Venue scan"),
                 "camera": N_("Camera sighting"), "gps": N_("GPS point")}


def get_person(session: Session, user: User, person_id: int) -> Person:
    """The person, if in the user's jurisdiction (else ``NotFound``: no hint that they exist)."""
    person = session.scalar(restrict(select(Person).where(Person.id == person_id), user, Person.village_id))
    if person is None:
        raise NotFound(f"no person {person_id} in your jurisdiction", field="person_id")
    return person


@router.get("/people")
def people_list(request: Request, session: SessionDep, user: OptionalUser, q: str = "",
                page_no: int = 1) -> Response:
    """People in the ledger of your units, searchable by name."""
    if user is None:
        return login_redirect(request)
    stmt = restrict(select(Person), user, Person.village_id)
    if q.strip():
        stmt = stmt.where(Person.name.contains(q.strip(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    page_no = max(1, page_no)
    rows = session.scalars(stmt.order_by(Person.id).limit(PAGE_SIZE).offset((page_no - 1) * PAGE_SIZE)).all()
    return page(request, user, "people.html", {"people": rows, "total": total, "q": q, "page_no": page_no,
                                                "pages": max(1, -(-total // PAGE_SIZE)),
                                                "residence": RESIDENCE,
                                                "sex": SEX})


def _person_context(session: Session, user: User, person: Person, request_gettext: Any) -> dict[str, Any]:
    may_reveal = user.role in PII_ROLES
    ctx: dict[str, Any] = {"person": person, "residence": RESIDENCE, "sex": SEX, "may_reveal": may_reveal,
                           "revealed": None, "errors": {}, "reason": "", "labels": labels,
                           "local_time": local_time}
    ctx["key_persons"] = session.scalars(select(KeyPerson).where(KeyPerson.person_id == person.id)
                                         .order_by(KeyPerson.start_date.desc())).all()
    exposures: list[tuple[Contact, Case]] = []
    if may_reveal:  # the exposure timeline is trajectory evidence: allowed roles only, audited
        exposures = [(c, k) for c, k in session.execute(
            select(Contact, Case).join(Case, Case.id == Contact.case_id)
            .where(Contact.person_id == person.id).order_by(Contact.first_at)).all()]
        if exposures:
            record_pii_read(session, user, person.id, "trajectory", contacts=len(exposures))
    ctx["exposures"] = exposures
    ctx["trajectory_config"] = _trajectory_config(request_gettext, person) if may_reveal else None
    return ctx


def _trajectory_config(gettext: Any, person: Person) -> dict[str, Any]:
    """What person_map.js needs: the data URL, the tile URL and its texts in the page's language."""
    return {
        "url": f"/people/{person.id}/trajectory.json",
        "tile_url": get_settings().tile_url,
        "sources": list(TRAJECTORY_SOURCES),
        "text": {
            "sources": {k: gettext(v) for k, v in SOURCE_LABELS.items()},
            "source": gettext("Source"), "place": gettext("Place"), "from": gettext("From"),
            "to": gettext("To"), "records": gettext("Records"), "order": gettext("Order"),
            "loading": gettext("Loading trajectory…"),
            "empty": gettext("The lake has no records of this person in this window."),
            "failed": gettext("The trajectory could not be loaded:"),
            "shown": gettext("Points shown:"), "window": gettext("Window:"),
            "unplaced": gettext("Records without a known position (not drawn):"),
        },
    }


@router.get("/people/{person_id}")
def person_page(request: Request, person_id: RowId, session: SessionDep, user: OptionalUser) -> Response:
    """A person's page: masked identifiers, household, and what other domains recorded."""
    if user is None:
        return login_redirect(request)
    try:
        person = get_person(session, user, person_id)
    except NotFound as e:
        return error_page(request, user, e)
    gettext, _ = gettext_for(request_locale(request))
    return page(request, user, "person.html", _person_context(session, user, person, gettext))


@router.get("/people/{person_id}/trajectory.json", response_class=JSONResponse)
def person_trajectory(
    person_id: RowId, session: SessionDep, user: CurrentUser,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> JSONResponse:
    """The person's trajectory from the lake over local days ``from``..``to`` (default: the last 14 days
    of data). Allowed roles only; the person must be in your jurisdiction; every view is audited."""
    if user.role not in PII_ROLES:
        raise PermissionDenied("your role may not see individual trajectories", field="person_id")
    person = get_person(session, user, person_id)
    settings = get_settings()
    lake_dir = settings.resolved_lake_dir
    window = resolve_window(lake_dir, first, last)
    pids = [h for h in (person.id_number_hash, person.phone_hash) if h]
    if window is None:
        traj = Trajectory(None, None)
    else:
        with open_engine(settings) as engine:
            traj = query_trajectory(engine, lake_dir, pids, *window)
    record_pii_read(session, user, person.id, "trajectory", view="map",
                    first=traj.first_day.isoformat() if traj.first_day else None,
                    last=traj.last_day.isoformat() if traj.last_day else None, points=len(traj.points))
    return JSONResponse({
        "person_id": person.id,
        "from": traj.first_day.isoformat() if traj.first_day else None,
        "to": traj.last_day.isoformat() if traj.last_day else None,
        "counts": traj.counts(),
        "unplaced": traj.unplaced,
        "points": [p.as_json() for p in traj.points],
    })


@router.post("/people/{person_id}/reveal")
async def person_reveal(
    request: Request, person_id: RowId, session: SessionDep, user: CurrentUser
) -> Response:
    """Show the unmasked identifiers (allowed roles only, with a reason; audited)."""
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    gettext, _ = gettext_for(request_locale(request))
    try:
        person = get_person(session, user, person_id)
    except NotFound as e:
        return error_page(request, user, e)
    ctx = _person_context(session, user, person, gettext)
    try:
        if user.role not in PII_ROLES:
            raise PermissionDenied(gettext("Your role may not see full identifiers."), field="reason")
        if len(reason) < 4:
            raise InvalidInput(gettext("Give the reason for viewing (at least 4 characters)."),
                               field="reason")
        cipher = get_cipher()
        revealed = {
            "id_number": cipher.decrypt(person.id_number_enc) if person.id_number_enc else "",
            "phone": cipher.decrypt(person.phone_enc) if person.phone_enc else "",
        }
        record_pii_read(session, user, person.id, "id_number,phone", reason=reason)
    except ZhikongError as e:
        ctx.update({"errors": {"reason": e.message}, "reason": reason})
        return page(request, user, "person.html", ctx, status_code=e.http_status)
    ctx["revealed"] = revealed
    return page(request, user, "person.html", ctx)
