"""``/api/auth``: login, logout, the current user, users and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from zhikong.auth import service
from zhikong.auth.models import ApiToken, Role, User
from zhikong.auth.schemas import LoginIn, LoginOut, TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut
from zhikong.core.config import get_settings
from zhikong.web.deps import (
    SESSION_COOKIE,
    CurrentUser,
    IdPath,
    SessionDep,
    clear_session_cookie,
    require_roles,
    set_session_cookie,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])
AdminUser = Annotated[User, Depends(require_roles(Role.SYSTEM_ADMIN))]


@router.post("/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, response: Response, session: SessionDep) -> LoginOut:
    """Log in with username and password; sets the session cookie and returns the CSRF token."""
    ip = request.client.host if request.client else None
    result = service.login(session, body.username, body.password, ip)
    set_session_cookie(response, result.token, get_settings().session_hours * 3600)
    return LoginOut(
        user=UserOut.model_validate(result.user), csrf_token=result.csrf_token, expires_at=result.expires_at
    )


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, session: SessionDep, user: CurrentUser) -> None:
    """Log out: revoke the login session and clear the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        service.logout(session, token)
    clear_session_cookie(response)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    """The logged-in user."""
    return user


@router.get("/users", response_model=list[UserOut])
def list_users(session: SessionDep, user: CurrentUser) -> list[User]:
    """Users in your jurisdiction."""
    stmt = service.restrict(select(User), user, User.unit_id).order_by(User.id)
    return list(session.scalars(stmt))


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, session: SessionDep, admin: AdminUser) -> User:
    """Create a user (system admin only)."""
    return service.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        unit_id=body.unit_id,
        display_name=body.display_name,
        phone=body.phone,
        actor=admin,
    )


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(session: SessionDep, user: CurrentUser) -> list[ApiToken]:
    """Your API tokens."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, session: SessionDep, user: CurrentUser) -> TokenCreated:
    """Create an API token for yourself; the token text is shown only in this response."""
    row, plain = service.create_api_token(session, user, body.name, days=body.days)
    return TokenCreated(token=plain, **TokenOut.model_validate(row).model_dump())


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: IdPath, session: SessionDep, user: CurrentUser) -> None:
    """Revoke one of your API tokens."""
    service.revoke_api_token(session, user, token_id)
