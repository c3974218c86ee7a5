"""ASGI entry point: ``uvicorn app.main:app``. Settings are read and checked here, once."""

from __future__ import annotations

import sys

from starlette.applications import Starlette

from app.errors import ConfigError, ToolDefinitionError
from app.logs import configure_logging
from app.server.app import create_app
from app.server.workers import uvicorn_worker_count
from app.settings import load_settings


def build() -> Starlette:
    try:
        settings = load_settings()
        workers = uvicorn_worker_count()
        if workers > 1 and settings.redis_url is None:
            raise ConfigError(
                f"uvicorn --workers {workers} needs REDIS_URL: the workers must share who"
                " holds which call, capacity and stream tokens; set REDIS_URL, or run one"
                " worker (python -m app with WORKERS=N runs several and supervises them)."
            )
        app = create_app(settings)
    except (ConfigError, ToolDefinitionError) as error:
        sys.exit(f"configuration error: {error}")
    configure_logging(settings)
    return app


app = build()
