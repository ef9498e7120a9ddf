"""Users, passwords, login sessions, lock-out and API tokens (service level)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, update

from tests.factories import PASSWORD, make_tree, make_user
from zhikong.auth import service
from zhikong.auth.models import LoginSession, Role, User
from zhikong.core.db import unit_of_work
from zhikong.core.errors import Conflict, InvalidInput, Unauthenticated
from zhikong.core.time import utcnow


def test_users_sessions_tokens(engine: Engine) -> None:
    with unit_of_work(engine) as s:
        tree = make_tree(s)
        user = make_user(s, Role.TOWN_OPERATOR, tree.town1, "u1")
        assert user.password_hash.startswith("$argon2") and PASSWORD not in user.password_hash
        with pytest.raises(Conflict):
            service.create_user(s, username="u1", password=PASSWORD, role=Role.TOWN_OPERATOR,
                                unit_id=tree.town1.id)
        with pytest.raises(InvalidInput) as e:
            service.create_user(s, username="u2", password="short", role=Role.TOWN_OPERATOR,
                                unit_id=tree.town1.id)
        assert e.value.field == "password"
        with pytest.raises(InvalidInput) as e:
            service.create_user(s, username="u3", password=PASSWORD, role="mayor", unit_id=tree.town1.id)
        assert e.value.field == "role"
        with pytest.raises(InvalidInput) as e:
            service.create_user(s, username="u4", password=PASSWORD, role=Role.TOWN_OPERATOR, unit_id=10**6)
        assert e.value.field == "unit_id"
    with unit_of_work(engine) as s:
        res = service.login(s, "u1", PASSWORD, "127.0.0.1")
        token = res.token
    with unit_of_work(engine) as s:
        login = service.session_for_token(s, token)
        assert login.user.username == "u1" and login.csrf_token == res.csrf_token
        service.logout(s, token)
    with unit_of_work(engine) as s, pytest.raises(Unauthenticated):
        service.session_for_token(s, token)
    # an expired session is refused
    with unit_of_work(engine) as s:
        token2 = service.login(s, "u1", PASSWORD).token
        s.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    with unit_of_work(engine) as s, pytest.raises(Unauthenticated):
        service.session_for_token(s, token2)
    # API tokens: usable until revoked; only the hash is stored
    with unit_of_work(engine) as s:
        u = s.get(User, user.id)
        assert u is not None
        row, plain = service.create_api_token(s, u, "camera platform")
        assert row.token_hash != plain and plain.startswith("zk_")
        assert service.user_for_api_token(s, plain).id == u.id
        service.revoke_api_token(s, u, row.id)
        with pytest.raises(Unauthenticated):
            service.user_for_api_token(s, plain)
        with pytest.raises(Unauthenticated):
            service.user_for_api_token(s, "zk_forged")


def test_lockout_and_release(engine: Engine, settings: object) -> None:
    with unit_of_work(engine) as s:
        tree = make_tree(s)
        make_user(s, Role.VILLAGE_OPERATOR, tree.village11, "v")
    for i in range(5):
        with unit_of_work(engine) as s, pytest.raises(Unauthenticated):
            service.login(s, "v", f"wrong-{i}")
    # locked: even the right password is refused, and failures survived the rollbacks
    with unit_of_work(engine) as s, pytest.raises(Unauthenticated, match="lock"):
        service.login(s, "v", PASSWORD)
    with unit_of_work(engine) as s:
        s.execute(update(User).values(locked_until=utcnow() - timedelta(seconds=1)))
    with unit_of_work(engine) as s:
        assert service.login(s, "v", PASSWORD).user.username == "v"
    # unknown users get the same answer as wrong passwords
    with unit_of_work(engine) as s, pytest.raises(Unauthenticated, match="wrong username or password"):
        service.login(s, "nobody", PASSWORD)
