"""Health, metrics, and the OpenAPI description of the operator API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.server.inputs import services_of
from app.server.openapi import document
from app.server.operator import operator_only
from app.sinks.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

UNSIGNED_WARNING = (
    "ALLOW_UNSIGNED_REQUESTS is on and TWILIO_AUTH_TOKEN is not set: Twilio signatures are"
    " NOT checked, so anyone who finds this server can start calls on your Gemini account."
    " Use this for local development only."
)


async def healthz(request: Request) -> Response:
    services = services_of(request)
    body = services.calls.health()
    body["max_concurrent_calls"] = services.settings.max_concurrent_calls
    body["agent"] = services.settings.agent
    if services.settings.agent == "gemini":  # echo mode has no model
        body["model"] = services.settings.model
    body["signature_validation"] = services.checker is not None
    if services.checker is None:
        body["warning"] = UNSIGNED_WARNING
    return JSONResponse(body, status_code=503 if services.calls.draining else 200)


async def metrics_page(request: Request) -> Response:
    return Response(services_of(request).metrics.render(), media_type=METRICS_CONTENT_TYPE)


async def protected_metrics(request: Request) -> Response:
    """Scraped with the operator token when there is one, openly otherwise."""
    if services_of(request).operator_token is None:
        return await metrics_page(request)
    return await operator_metrics(request)


operator_metrics = operator_only(metrics_page)


async def openapi(request: Request) -> Response:
    services = services_of(request)
    body = document(services.settings.public_base, softphone=services.softphone is not None)
    return JSONResponse(body)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", protected_metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
