"""TwiML documents, rendered from the templates in ``twiml/`` with every value escaped.

The templates ship inside the package (``app/telephony/templates`` links to the top-level
``twiml/`` in a checkout; a wheel carries the files themselves), so an installed server
finds them wherever it runs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

TWIML_DIR = Path(__file__).parent / "templates"
_ATTRIBUTE_ENTITIES = {'"': "&quot;", "'": "&apos;"}


@cache
def _template(name: str) -> Template:
    return Template((TWIML_DIR / f"{name}.xml").read_text(encoding="utf-8"))


def render(name: str, **values: str) -> str:
    """Fill ``twiml/<name>.xml``; each value is XML-escaped (safe in text and attributes)."""
    escaped = {key: escape(value, _ATTRIBUTE_ENTITIES) for key, value in values.items()}
    return _template(name).substitute(escaped)


def connect_stream(
    *,
    stream_url: str,
    action_url: str,
    status_url: str,
    call_sid: str,
    caller: str,
    called: str,
    stream_token: str,
    seal: str,
    direction: str = "inbound",
) -> str:
    return render(
        "connect",
        stream_url=stream_url,
        action_url=action_url,
        status_url=status_url,
        call_sid=call_sid,
        caller=caller,
        called=called,
        stream_token=stream_token,
        seal=seal,
        direction=direction,
    )


def hangup() -> str:
    return render("hangup")


def say_and_hang_up(message: str) -> str:
    """A short spoken message, then hang up (the apology, the busy answer)."""
    return render("say_hangup", message=message)


def transfer_twiml(number: str) -> str:
    """Dial ``number``; when the person hangs up, the call ends."""
    return render("dial", number=number)
