"""A local stand-in for the parts of Twilio's REST API this project uses.

Served by uvicorn on loopback; the app's twilio client reaches it through
``TWILIO_API_BASE_URL`` (the library's HTTP-client extension point). It checks
HTTP Basic auth (account SID and auth token) and records every request.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.telephony.captures import ACCOUNT

ACCOUNT_SID = ACCOUNT  # the account the Twilio emulator speaks for
PREFIX = "/2010-04-01/Accounts/{account}"


@dataclass
class RestRecord:
    method: str
    path: str
    form: dict[str, str]
    query: dict[str, str]


@dataclass
class TwilioRestStandIn:
    auth_token: str
    numbers: dict[str, str] = field(default_factory=lambda: {"+15550100002": "PN" + "1" * 32})
    requests: list[RestRecord] = field(default_factory=list)
    calls_created: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(PREFIX + "/Calls.json", self._create_call, methods=["POST"]),
                Route(PREFIX + "/Calls/{sid}.json", self._update_call, methods=["POST"]),
                Route(PREFIX + "/IncomingPhoneNumbers.json", self._list_numbers, methods=["GET"]),
                Route(
                    PREFIX + "/IncomingPhoneNumbers/{sid}.json",
                    self._update_number,
                    methods=["POST"],
                ),
            ]
        )

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{self.auth_token}".encode()).decode()
        ok = request.headers.get("authorization") == f"Basic {expected}"
        return ok and request.path_params.get("account") == ACCOUNT_SID

    async def _record(self, request: Request) -> RestRecord | Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        record = RestRecord(request.method, request.url.path, form, dict(request.query_params))
        self.requests.append(record)
        if not self._authorised(request):
            return JSONResponse(
                {"code": 20003, "message": "Authenticate", "status": 401}, status_code=401
            )
        return record

    @staticmethod
    def _call(sid: str, **fields: Any) -> dict[str, Any]:
        return {"sid": sid, "account_sid": ACCOUNT_SID, "status": "queued", **fields}

    async def _create_call(self, request: Request) -> Response:
        record = await self._record(request)
        if isinstance(record, Response):
            return record
        self.calls_created += 1
        sid = f"CA{self.calls_created:032x}"
        body = self._call(sid, to=record.form.get("To"), **{"from": record.form.get("From")})
        return JSONResponse(body, status_code=201)

    async def _update_call(self, request: Request) -> Response:
        record = await self._record(request)
        if isinstance(record, Response):
            return record
        status = record.form.get("Status", "in-progress")
        return JSONResponse(self._call(request.path_params["sid"], status=status))

    async def _list_numbers(self, request: Request) -> Response:
        record = await self._record(request)
        if isinstance(record, Response):
            return record
        wanted = record.query.get("PhoneNumber")
        found = [
            {"sid": sid, "phone_number": n, "account_sid": ACCOUNT_SID}
            for n, sid in self.numbers.items()
            if n == wanted
        ]
        return JSONResponse(
            {
                "incoming_phone_numbers": found,
                "meta": {"key": "incoming_phone_numbers", "next_page_url": None},
            }
        )

    async def _update_number(self, request: Request) -> Response:
        record = await self._record(request)
        if isinstance(record, Response):
            return record
        sid = request.path_params["sid"]
        number = next((n for n, s in self.numbers.items() if s == sid), None)
        if number is None:
            return JSONResponse(
                {"code": 20404, "message": "not found", "status": 404}, status_code=404
            )
        return JSONResponse(
            {
                "sid": sid,
                "phone_number": number,
                "account_sid": ACCOUNT_SID,
                "voice_url": record.form.get("VoiceUrl"),
            }
        )

    def last(self, suffix: str) -> RestRecord:
        return next(r for r in reversed(self.requests) if r.path.endswith(suffix))
