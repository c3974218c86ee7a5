"""``python -m app``: serve (draining calls on SIGTERM), or an operator command.

python -m app                          serve on HOST:PORT
python -m app check                    validate the settings and show what would be used
python -m app call +15551234567        have the bot call someone
python -m app configure-number +1555…  point a Twilio number's webhooks at PUBLIC_URL
"""

from __future__ import annotations

import asyncio
import sys
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from app import cli
from app.logs import configure_logging
from app.settings import ConfigError, load_settings
from app.switchboard import Switchboard
from app.tools import ToolDefinitionError
from app.web import WS_MAX_SIZE, create_app, declared_tools


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT, refuse new calls and let calls in progress end
    politely (up to the drain timeout) before uvicorn shuts down. A second signal
    stops at once."""

    def __init__(self, config: uvicorn.Config, board: Switchboard, drain_s: float) -> None:
        super().__init__(config)
        self._board = board
        self._drain_s = drain_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)  # type: ignore[arg-type]

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_task is not None or self._loop is None or not self._board.active:
            super().handle_exit(sig, frame)
            if not self._board.active:
                self._board.draining = True
            return
        self._loop.call_soon_threadsafe(self._start_drain, sig, frame)

    def _start_drain(self, sig: int, frame: FrameType | None) -> None:
        async def drain_then_exit() -> None:
            await self._board.drain(self._drain_s)
            super(DrainingServer, self).handle_exit(sig, frame)

        self._drain_task = asyncio.get_running_loop().create_task(drain_then_exit())


def serve(app: Starlette, host: str, port: int, log_level: str, drain_s: float) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips="*",
        ws_max_size=WS_MAX_SIZE,
        ws_per_message_deflate=False,  # Twilio does not compress; never spend CPU on it
        log_config=None,
        log_level=log_level,
    )
    DrainingServer(config, app.state.board, drain_s).run()


def main(argv: list[str] | None = None) -> None:
    args = cli.parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command in (None, "serve"):
            app = create_app(settings)  # imports the tool modules: errors stop startup here
        elif args.command == "check":
            declared_tools(settings)
    except (ConfigError, ToolDefinitionError) as error:
        sys.exit(f"configuration error: {error}")
    if args.command in (None, "serve"):
        configure_logging(settings)
        serve(
            app, settings.host, settings.port, settings.log_level, settings.shutdown_drain_seconds
        )
    else:
        sys.exit(cli.run(args, settings))


if __name__ == "__main__":
    main()
