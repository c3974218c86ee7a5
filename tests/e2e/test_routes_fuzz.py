"""Every HTTP route against generated input: never a server error, every answer as the
served OpenAPI document says.

schemathesis reads ``/openapi.json`` from a real ``python -m app`` process (signatures
on, operator token, call records, softphone, outbound calls through the REST
stand-in) and generates valid and invalid requests for each operation: malformed
paths, queries, forms and JSON bodies, wrong types, missing fields, no credentials.
Webhook requests whose form is a plain mapping are signed as Twilio signs them, so the
fuzzing gets past the signature to the form checks; the others test the signature.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from twilio.request_validator import RequestValidator

from app.server.app import create_app
from app.server.openapi import document
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, free_port, process_env
from tests.support.twilio_rest_standin import ACCOUNT_SID, TwilioRestStandIn

TOKEN = "fuzz-operator-token-0123456789abcdef"
WEBHOOKS = ("/incoming-call", "/call-ended", "/stream-status", "/call-status")


@dataclass
class Served:
    base: str
    log: Path


class ThreadedServer:
    """A uvicorn server on its own thread (the fuzzer's requests are synchronous)."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with ThreadedServer(TwilioRestStandIn(AUTH_TOKEN).app()) as rest_base:
        port = free_port()
        env = process_env(
            AGENT="echo",
            HOST="127.0.0.1",
            PORT=str(port),
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            PUBLIC_URL=PUBLIC_URL,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_FROM_NUMBER="+15550100002",
            TWILIO_API_BASE_URL=rest_base,
            OPERATOR_TOKEN=TOKEN,
            TRANSFER_TARGETS="sales=+15551230001,support=+15551230002",
            ENABLE_SOFTPHONE="true",
            CALL_RECORDS_PATH=str(tmp / "calls.sqlite3"),
            MAX_CONCURRENT_CALLS="1000",
        )
        log = tmp / "server.log"
        with log.open("w") as sink:
            process = subprocess.Popen([sys.executable, "-m", "app"], cwd=tmp, env=env, stderr=sink)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.get(base + "/healthz")
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            else:
                pytest.fail("the server did not come up: " + log.read_text())
            yield Served(base, log)
        finally:
            process.terminate()
            process.wait(timeout=20)


DOCUMENT = document(PUBLIC_URL, softphone=True)
OPERATIONS = [
    result.ok()  # type: ignore[union-attr]  # an invalid document fails right here
    for result in schemathesis.openapi.from_dict(DOCUMENT).get_all_operations()
]
# Operations with something to get wrong (parameters or a body) are also sent invalid data.
NEGATABLE = [o for o in OPERATIONS if o.path_parameters or o.query or o.body]
CASES = [(o, GenerationMode.POSITIVE) for o in OPERATIONS] + [
    (o, GenerationMode.NEGATIVE) for o in NEGATABLE
]
VALIDATOR = RequestValidator(AUTH_TOKEN)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
# Each request comes from its own address (the server trusts loopback's X-Forwarded-For),
# so the wrong tokens of negative cases do not get the fuzzer itself throttled: with one
# address, the rest of the run would be answered 429 and reach no route.
ADDRESSES = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in itertools.count(1))


def as_twilio(case: Any, mode: GenerationMode) -> dict[str, str]:
    """The operator's token on every request; a webhook form that is a plain mapping is
    signed as Twilio signs it and, for valid data, carries this server's account (as
    every request Twilio sends does)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": next(ADDRESSES)}
    body = case.body
    if (
        case.path in WEBHOOKS
        and isinstance(body, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in body.items())
    ):
        if mode is GenerationMode.POSITIVE:
            body["AccountSid"] = ACCOUNT_SID
        signature = VALIDATOR.compute_signature(PUBLIC_URL + case.formatted_path, body)
        headers["X-Twilio-Signature"] = signature
    return headers


@pytest.mark.parametrize(
    ("operation", "mode"), CASES, ids=[f"{o.label} {m.value}" for o, m in CASES]
)
def test_every_route_answers_generated_input_as_documented(
    operation: Any, mode: GenerationMode, served: Served
) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def exchange(case: Any) -> None:
        case.call_and_validate(base_url=served.base, headers=as_twilio(case, mode))

    exchange()


def test_the_server_serves_the_document_that_is_fuzzed(served: Served) -> None:
    assert httpx.get(served.base + "/openapi.json").json() == DOCUMENT


def test_the_document_names_every_route_the_app_serves() -> None:
    from starlette.routing import Route

    from tests.support.server import settings_for_echo

    settings = settings_for_echo(operator_token=TOKEN, enable_softphone=True)
    app = create_app(settings)
    served = {
        (route.path.replace(":str}", "}"), method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (path, method)
        for path, operations in document(None, softphone=True)["paths"].items()
        for method in operations
    }
    assert served == documented


def test_the_fuzzed_server_logged_no_error(served: Served) -> None:
    """Run last in this module: the server's own log of everything the fuzzing sent."""
    log = served.log.read_text()
    statuses = Counter(re.findall(r'HTTP/1\.1" (\d{3})', log))
    print(f"\n[fuzz] {sum(statuses.values())} requests, answers by status: {dict(statuses)}")
    assert sum(statuses.values()) > 100
    assert statuses["429"] == 0, statuses  # the fuzzing reached the routes, not the throttle
    assert not [code for code in statuses if code.startswith("5")], statuses
    assert "Traceback" not in log and "Exception in ASGI application" not in log
