"""The FastAPI application factory.

Routers are discovered: every ``zhikong.<domain>.router`` module with a ``router`` is included (the
API, under ``/api/...``), then every module of ``zhikong.web.pages`` with a ``router`` (HTML pages);
static files are served at ``/static`` when ``zhikong/web/static`` exists.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

import zhikong
from zhikong.core.config import Settings, get_settings
from zhikong.core.db import make_engine
from zhikong.web.errors import install_error_handlers

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"


def _import_optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        raise


def discover_routers() -> list[APIRouter]:
    """Every ``zhikong.<domain>.router.router``, then every ``zhikong.web.pages.<module>.router``."""
    routers: list[APIRouter] = []
    for mod in sorted(pkgutil.iter_modules(zhikong.__path__), key=lambda m: m.name):
        if not mod.ispkg:
            continue
        module = _import_optional(f"zhikong.{mod.name}.router")
        router = getattr(module, "router", None) if module else None
        if isinstance(router, APIRouter):
            routers.append(router)
    pages = _import_optional("zhikong.web.pages")
    if pages is not None:
        router = getattr(pages, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
        if hasattr(pages, "__path__"):
            for mod in sorted(pkgutil.iter_modules(pages.__path__), key=lambda m: m.name):
                module = _import_optional(f"zhikong.web.pages.{mod.name}")
                router = getattr(module, "router", None) if module else None
                if isinstance(router, APIRouter):
                    routers.append(router)
    return routers


#: requests served at once per process; the rest wait in the event loop, holding no DB connection
MAX_CONCURRENT_REQUESTS = 32
#: long-lived or database-free paths that do not take a slot
_UNLIMITED = ("/api/alerts/stream", "/static", "/api/health")


class ConcurrencyLimit:
    """Pure ASGI middleware: at most ``limit`` requests in the app at once.

    Sync endpoints and dependencies run in a thread pool (40 threads); a request that got its
    database connection in one dependency may then wait for a thread. Queueing *before* the app keeps
    the number of checked-out connections below the pool size under any load.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_CONCURRENT_REQUESTS) -> None:
        self.app = app
        self.limit = limit
        self._sem: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(_UNLIMITED):
            await self.app(scope, receive, send)
            return
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.limit)
        async with self._sem:
            await self.app(scope, receive, send)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While serving, audit records are linked into the chain by a background thread, so no
    request waits for the chain's lock (``zhikong.audit.linker``); what is left is linked at exit."""
    from zhikong.audit.linker import start_background, stop_background

    start_background()
    try:
        yield
    finally:
        await asyncio.to_thread(stop_background)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. ``settings`` defaults to ``get_settings()``."""
    settings = settings or get_settings()
    app = FastAPI(
        title="zhikong 智控",
        summary="Epidemic prevention and control command platform: tasks 交办/督办, alerts, audit.",
        version=getattr(zhikong, "__version__", "0"),
        lifespan=_lifespan,
    )
    app.state.settings = settings
    url = settings.resolved_database_url
    # one connection for each of the (40) threads that run sync endpoints, so none waits for the pool;
    # no ping before each checkout (a round trip per request): a connection the server dropped fails
    # one request (503) and makes the pool discard every connection older than it; recycled hourly
    pool = {} if url.startswith("sqlite") else {
        "pool_size": 20, "max_overflow": 30, "pool_timeout": 10, "pool_pre_ping": False, "pool_recycle": 3600
    }
    app.state.engine = make_engine(url, **pool)
    install_error_handlers(app)
    app.add_middleware(ConcurrencyLimit)

    @app.get("/api/health", tags=["system"])
    def health() -> dict[str, str]:
        """Liveness probe."""
        return {"status": "ok"}

    for router in discover_routers():
        app.include_router(router)
    if STATIC_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
