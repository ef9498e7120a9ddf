"""What every page shares: the navigation, the viewer shown in the header, the login redirect and
the jurisdiction limit bound to the current user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Path, Request
from fastapi.responses import RedirectResponse, Response

from zhikong.auth.models import Role, User
from zhikong.auth.service import restrict
from zhikong.core.errors import ZhikongError
from zhikong.web.i18n import N_
from zhikong.web.pages.mapdata import S
from zhikong.web.pages.templating import render

#: a database row id in a page URL (bounded, so a huge number is a 422, not a database overflow)
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

#: the sidebar: (path, label)
NAV: tuple[tuple[str, str], ...] = (
    ("/map", N_("One map")),
    ("/dashboard", N_("Dashboard")),
    ("/tasks", N_("Task board")),
    ("/alerts", N_("Alert console")),
    ("/video", N_("Video wall")),
    ("/people", N_("People")),
    ("/cases", N_("Cases")),
    ("/screening", N_("Screening queue")),
    ("/facilities", N_("Isolation points")),
    ("/reports", N_("Daily reports")),
    ("/summary", N_("Daily summary")),
    ("/meetings", N_("Dispatch meetings")),
    ("/netizen", N_("Netizen reports")),
)

ROLE_LABELS: dict[Role, str] = {
    Role.DISTRICT_COMMAND: N_("District command centre"),
    Role.SUPERVISION: N_("Supervision group"),
    Role.TOWN_OPERATOR: N_("Town operator"),
    Role.VILLAGE_OPERATOR: N_("Village operator"),
    Role.VIDEO_PATROLLER: N_("Video patroller"),
    Role.ISOLATION_STAFF: N_("Isolation-point staff"),
    Role.ENTERPRISE_ADMIN: N_("Enterprise admin"),
    Role.SYSTEM_ADMIN: N_("System admin"),
}


@dataclass(frozen=True)
class Viewer:
    """The logged-in user as the header shows them."""

    name: str
    role: str
    role_label: str
    unit_name: str
    unit_code: str


def viewer(user: User) -> Viewer:
    return Viewer(name=user.display_name or user.username, role=user.role.value,
                  role_label=ROLE_LABELS.get(user.role, user.role.value),
                  unit_name=user.unit.name, unit_code=user.unit.code)


def login_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to the login page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


def page(request: Request, user: User, template: str, context: Mapping[str, Any] | None = None,
         *, status_code: int = 200) -> Response:
    """Render a page of the command centre (header, sidebar) for ``user``."""
    ctx: dict[str, Any] = {"me": viewer(user), "nav": NAV}
    if context:
        ctx.update(context)
    return render(request, template, ctx, status_code=status_code)


def error_page(request: Request, user: User, error: ZhikongError) -> Response:
    """A refused or missing page: the status of the error, a message, never the data."""
    return page(request, user, "error.html", {"status": error.http_status, "message": error.message},
                status_code=error.http_status)


class UserLimit:
    """``restrict`` bound to one user, in the shape ``mapdata.Limit`` expects."""

    def __init__(self, user: User) -> None:
        self.user = user

    def __call__(self, stmt: S, unit_column: Any, /) -> S:
        return restrict(stmt, self.user, unit_column)
