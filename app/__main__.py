"""``python -m app``: serve the app with the settings' host and port."""

from __future__ import annotations

import sys

import uvicorn

from app.logs import configure_logging
from app.settings import ConfigError, load_settings
from app.web import create_app

WS_MAX_SIZE = 256 * 1024  # Twilio frames are ~300 bytes; refuse anything absurd


def main() -> None:
    try:
        settings = load_settings()
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    configure_logging(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        proxy_headers=True,
        forwarded_allow_ips="*",
        ws_max_size=WS_MAX_SIZE,
        log_config=None,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
