"""The login page, logging out, and the home page (``/`` → the one map)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from zhikong.auth import service as auth_service
from zhikong.core.config import get_settings
from zhikong.core.errors import Unauthenticated
from zhikong.web.deps import (
    SESSION_COOKIE,
    CurrentUser,
    OptionalUser,
    SessionDep,
    clear_session_cookie,
    set_session_cookie,
)
from zhikong.web.pages.lang import safe_next
from zhikong.web.pages.templating import gettext_for, render, request_locale

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(user: OptionalUser) -> Response:
    """The home page: the one map."""
    return RedirectResponse("/map" if user is not None else "/login", status_code=303)


@router.get("/login")
def login_form(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    """The login form."""
    if user is not None:
        return RedirectResponse(safe_next(next or "/map"), status_code=303)
    return render(request, "login.html", {"next": safe_next(next or "/map"), "errors": {}, "username": ""})


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/map",
) -> Response:
    """Check the credentials; on success set the session cookie and go on."""
    gettext, _ = gettext_for(request_locale(request))
    errors: dict[str, str] = {}
    if not username.strip():
        errors["username"] = gettext("Enter your user name.")
    if not password:
        errors["password"] = gettext("Enter your password.")
    if not errors:
        ip = request.client.host if request.client else None
        try:
            result = auth_service.login(session, username, password, ip)
        except Unauthenticated as e:
            locked = "locked" in e.message
            errors["password"] = gettext("This account is locked for a while after repeated failures.") \
                if locked else gettext("Wrong user name or password.")
        else:
            resp = RedirectResponse(safe_next(next), status_code=303)
            set_session_cookie(resp, result.token, get_settings().session_hours * 3600)
            return resp
    return render(request, "login.html", {"next": safe_next(next), "errors": errors, "username": username},
                  status_code=401 if "password" in errors and username.strip() and password else 422)


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Log out (the form carries the CSRF token) and return to the login page."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth_service.logout(session, token)
    resp = RedirectResponse("/login", status_code=303)
    clear_session_cookie(resp)
    return resp
