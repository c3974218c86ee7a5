"""The composition root: ``create_app(settings)`` builds the services once and serves them.

Routes live in their own modules (webhooks, media stream, operator API, health,
softphone) and find the services on ``app.state.services``. What needs the running
event loop (the Twilio REST client's HTTP session) is opened in the lifespan and
closed at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from app.addressing import KnownHosts as Rule
from app.call.ports import AgentConnector
from app.errors import BadRequest, CallNotHere, ControlTimeout, RegistryUnavailable
from app.server import health, media, operator, recordings, softphone, webhooks
from app.server.body_limit import BodyLimit
from app.server.inputs import bad_request
from app.server.known_hosts import KnownHosts
from app.server.proxy_headers import ProxyHeaders
from app.server.services import Services, build_services
from app.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings, connector: AgentConnector | None = None) -> Starlette:
    """The app; raises ConfigError (or ToolDefinitionError) for settings that cannot work.
    ``connector`` replaces the agent (tests script one; production builds Gemini's)."""
    services = build_services(settings, connector)
    routes = [*webhooks.ROUTES, *media.ROUTES, *operator.ROUTES, *recordings.ROUTES]
    routes += health.ROUTES
    if services.softphone is not None:
        routes.extend(softphone.ROUTES)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(ProxyHeaders, proxies=settings.proxies),
            *(
                [Middleware(KnownHosts, rule=Rule(settings.public_base))]
                if services.checker is None  # signatures off: nothing else proves a caller
                else []
            ),
            Middleware(BodyLimit, pending=services.pending),
        ],
        lifespan=lifespan,
        exception_handlers={
            CallNotHere: operator.not_here,
            RegistryUnavailable: operator.registry_down,
            ControlTimeout: operator.control_timeout,
            BadRequest: bad_request,
        },
    )
    app.state.services = services
    app.state.calls = services.calls
    return app


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    services: Services = app.state.services
    await services.open()
    announce(services)
    try:
        yield
    finally:
        await services.aclose()


def announce(services: Services) -> None:
    settings = services.settings
    for warning in settings.warnings:
        log.warning(warning)
    if services.checker is None:
        log.warning(health.UNSIGNED_WARNING)
    log.info(
        "ready: %s model %s, up to %d calls, signatures %s",
        "ECHO MODE (no Gemini):"
        if settings.agent == "echo"
        else ("Vertex AI" if settings.vertex else "Gemini Developer API"),
        "-" if settings.agent == "echo" else settings.model,
        settings.max_concurrent_calls,
        "checked" if services.checker else "NOT CHECKED",
    )
    if services.tools:
        log.info("tools: %s", ", ".join(t.name for t in services.tools))
    if services.softphone is not None and services.softphone.open:
        log.warning(softphone.OPEN_WARNING, f"{settings.public_base or ''}/softphone")
    elif services.softphone is not None:
        log.info(
            "softphone at %s/softphone (opened with OPERATOR_TOKEN)", settings.public_base or ""
        )
