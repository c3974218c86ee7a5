"""A local OAuth token endpoint for google-auth's service-account flow.

The test makes a service-account key whose ``token_uri`` points here. google-auth
signs a JWT assertion with the key and posts it; this endpoint verifies the
signature and audience with the key's public half, and issues short-lived tokens.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always addresses the assertion to Google's token endpoint, whatever the
# key's token_uri says; Google checks that audience, and so does this stand-in.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass
class TokenEndpoint:
    expires_in: int = 3600
    refuse: bool = False
    issued: list[str] = field(default_factory=list)
    assertions: list[dict[str, object]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/token", self._token, methods=["POST"])])

    def valid(self, token: str) -> bool:
        return token in self.issued

    def write_key_file(self, path: Path, project: str) -> Path:
        private = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": project,
                    "private_key_id": "test-key-1",
                    "private_key": private,
                    "client_email": f"bot@{project}.iam.gserviceaccount.com",
                    "client_id": "1234567890",
                    "token_uri": self.url + "/token",
                }
            )
        )
        return path

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != JWT_GRANT:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(
                str(form.get("assertion")), certs=self.public_pem, audience=GOOGLE_TOKEN_AUDIENCE
            )
        except ValueError as error:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": str(error)}, status_code=400
            )
        self.assertions.append(claims)
        if self.refuse:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "disabled"}, status_code=400
            )
        token = f"ya29.test-{len(self.issued)}-{secrets.token_hex(8)}"
        self.issued.append(token)
        return JSONResponse(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )
