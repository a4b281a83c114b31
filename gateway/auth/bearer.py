"""Bearer tokens on livefold's own auth endpoints (RFC 6750): authlib's ResourceProtector with
a validator that asks the `Verifier`, so failures carry the standard `WWW-Authenticate` header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import OAuth2Error, ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.auth.starlette_oauth import oauth2_request, to_response
from gateway.auth.verifier import VerifiedToken, Verifier
from livefold.access.tokens import AuthError

_NOT_IN_ERROR_TEXT = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def error_text(text: str) -> str:
    """`text` within the characters RFC 6749 allows in an error description."""
    return _NOT_IN_ERROR_TEXT.sub("?", text)[:300]


@dataclass(frozen=True)
class BearerToken:
    """A verified token as authlib's TokenMixin sees it."""

    verified: VerifiedToken

    def get_scope(self) -> str:
        scope = self.verified.claims.get("scope")
        return scope if isinstance(scope, str) else ""

    def is_expired(self) -> bool:
        return False  # the verifier refused it otherwise

    def is_revoked(self) -> bool:
        return False


class VerifierValidator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, verifier: Verifier):
        super().__init__(realm="livefold")
        self.verifier = verifier

    def authenticate_token(self, token_string: str) -> BearerToken:
        try:
            return BearerToken(self.verifier.verify_token(token_string))
        except AuthError as error:
            raise InvalidTokenError(description=error_text(str(error)), realm=self.realm) from error


class Unauthorized(Exception):
    """The request's bearer token is missing or refused: `response` is RFC 6750's answer."""

    def __init__(self, response: Response, reason: str):
        super().__init__(reason)
        self.response = response
        self.reason = reason


class BearerGuard:
    def __init__(self, verifier: Verifier, public_url: str):
        self.protector = ResourceProtector()
        self.protector.register_token_validator(VerifierValidator(verifier))
        self.public_url = public_url

    async def __call__(self, request: Request) -> VerifiedToken:
        """The caller's verified token; Unauthorized (with its 401 response) otherwise."""
        try:
            oauth_request = await oauth2_request(request, self.public_url, form=[], checked=False)
            # Verifying may fetch an external provider's keys: keep it off the event loop.
            token = await run_in_threadpool(self.protector.validate_request, None, oauth_request)
        except OAuth2Error as error:
            reason = error.description or error.error or "unauthorized"
            raise Unauthorized(to_response(*error()), reason) from error
        verified: VerifiedToken = token.verified
        return verified
