"""``zhikong serve``: the web command centre and REST API (uvicorn)."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option(None, "--host", help="Address to listen on (default: settings.host)."),
    port: int = typer.Option(None, "--port", help="Port (default: settings.port)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    reload: bool = typer.Option(False, "--reload", help="Reload on code changes (development)."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request."),
) -> None:
    """Serve the web UI and the REST API (schema at /openapi.json)."""
    import uvicorn

    from zhikong.core.config import get_settings

    settings = get_settings()
    uvicorn.run(
        "zhikong.web.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        reload=reload,
        log_level="info",
        access_log=access_log,
    )


TOP_LEVEL_COMMANDS = [serve]
