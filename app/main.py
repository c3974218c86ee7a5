"""ASGI entry point: ``uvicorn app.main:app``. Settings are read and checked here, once."""

from __future__ import annotations

import sys

from starlette.applications import Starlette

from app.errors import ConfigError, ToolDefinitionError
from app.logs import configure_logging
from app.server.app import create_app
from app.settings import load_settings


def build() -> Starlette:
    try:
        settings = load_settings()
        app = create_app(settings)
    except (ConfigError, ToolDefinitionError) as error:
        sys.exit(f"configuration error: {error}")
    configure_logging(settings)
    return app


app = build()
