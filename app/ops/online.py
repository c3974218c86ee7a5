"""``python -m app check --online``: ask the Gemini service about the key and the model.

Offline, ``check`` knows only this version's table of models (a new model is a
warning). Online, the service itself says whether the key is accepted, whether the
model exists and (on the Developer API) whether it supports the Live API. When the
service cannot be reached, the answer says plainly what was not checked.
"""

from __future__ import annotations

import asyncio

from app.agent.gemini.catalog import DEV, bare_name, usable
from app.errors import ConfigError, ServiceRefused, ServiceUnreachable
from app.settings import Settings

ONLINE_TIMEOUT_S = 20.0


def endpoint(settings: Settings) -> str:
    if settings.gemini_base_url:
        return settings.gemini_base_url
    if settings.vertex:
        return f"https://{settings.google_cloud_location}-aiplatform.googleapis.com"
    return "https://generativelanguage.googleapis.com"


async def check_online(settings: Settings, timeout_s: float = ONLINE_TIMEOUT_S) -> list[str]:
    """Lines for ``check``'s output; :class:`ConfigError` when the service says the
    settings cannot work (a refused key, no such model, a model without the Live API)."""
    if settings.agent == "echo":
        return ["online: nothing to ask (AGENT=echo uses no Gemini)"]
    from app.agent.gemini.config import ask_about_model  # the SDK, only when asked

    model, where = settings.model, endpoint(settings)
    try:
        async with asyncio.timeout(timeout_s):
            answer = await ask_about_model(settings)
    except TimeoutError:
        return [_not_checked(where, f"no answer within {timeout_s:g} s")]
    except ServiceUnreachable as error:
        return [_not_checked(where, str(error))]
    except ServiceRefused as refused:
        key = "the Vertex AI credentials" if settings.vertex else "GEMINI_API_KEY"
        raise ConfigError(
            f"the Gemini service at {where} refused {key} ({refused}): check the key (Google AI"
            " Studio lists yours) and that its project may use the Gemini API."
        ) from None
    live = ", ".join(answer.live_models) or "none"
    if not answer.exists:
        listed = f" The Live models it lists for this key: {live}." if not settings.vertex else ""
        raise ConfigError(
            f"GEMINI_MODEL={model}: the service at {where} has no such model.{listed}"
        )
    if answer.live is False:
        raise ConfigError(
            f"GEMINI_MODEL={model} exists but does not support the Live API (bidiGenerateContent),"
            f" which a phone call needs. The Live models it lists for this key: {live}."
        )
    if answer.live is None:
        return [
            f"online: {where} has the model {model} (Vertex AI does not say which models"
            " support the Live API: that is checked by the first call)"
        ]
    lines = [f"online: {where} accepts the key, and {model} supports the Live API"]
    new = sorted(set(answer.live_models) - set(usable(DEV)) - {bare_name(model)})
    if new:
        lines.append(
            f"online: Live models this version's table does not know yet: {', '.join(new)}"
        )
    return lines


def _not_checked(where: str, reason: str) -> str:
    return (
        f"online: NOT CHECKED: could not reach the Gemini service at {where} ({reason}); the key"
        " and the model were checked offline only, against this version's table"
    )
