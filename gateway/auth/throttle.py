"""Brute-force limits on the auth endpoints: token buckets (gateway/limits.py) per client
address for sign-in, the token and revocation endpoints and registration, and per username for
sign-in, so one account cannot be tried from many addresses quickly. Every attempt counts, a
successful one too: judged after the password check, parallel guesses would all get through.

A refusal is 429 with Retry-After; its body is the gateway's error JSON (`{"error":
"rate_limited", "reason"}`), or RFC 6749's (`{"error": "slow_down", "error_description"}`) on
the OAuth token and revocation endpoints. A flood of guesses at one username also locks its
owner out of signing in for as long: that is the price of the per-account limit.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.auth.starlette_oauth import oauth_error
from gateway.auth.usernames import username_key
from gateway.errors import ApiError
from gateway.limits import TokenBuckets, too_many
from livefold.settings import Settings

USERNAME_KEY_CHARS = 64  # usernames are at most 32: a longer one needs no bucket of its own


def client_ip(request: Request) -> str:
    """The client's address (uvicorn puts X-Forwarded-For's there for trusted proxies)."""
    return request.client.host if request.client is not None else "unknown"


def per_minute(count: float, replicas: int) -> TokenBuckets:
    return TokenBuckets(count / 60.0, burst=max(1.0, count), replicas=replicas)


class Throttled(Exception):
    def __init__(self, error: ApiError):
        super().__init__(error.reason)
        self.error = error

    def response(self) -> JSONResponse:
        return JSONResponse(self.error.body(), self.error.status, headers=self.error.headers)

    def oauth_response(self) -> JSONResponse:
        answer = oauth_error(429, "slow_down", self.error.reason)
        answer.headers.update(self.error.headers)
        return answer


class AuthLimits:
    def __init__(self, settings: Settings):
        replicas = settings.gateway_replicas
        self.sign_ins_per_ip = per_minute(settings.auth_ip_sign_ins_per_minute, replicas)
        self.sign_ins_per_account = per_minute(settings.auth_account_sign_ins_per_minute, replicas)
        self.token_requests_per_ip = per_minute(
            settings.auth_ip_token_requests_per_minute, replicas
        )
        self.registrations_per_ip = per_minute(settings.auth_ip_registrations_per_minute, replicas)

    def sign_in_from(self, request: Request) -> None:
        wait = self.sign_ins_per_ip.take(client_ip(request))
        if wait:
            raise Throttled(too_many("ip_sign_in", wait, "too many sign-in attempts from here"))

    def sign_in_as(self, username: str) -> None:
        key = username_key(username)[:USERNAME_KEY_CHARS]
        wait = self.sign_ins_per_account.take(key)
        if wait:
            what = "too many sign-in attempts for this username"
            raise Throttled(too_many("account_sign_in", wait, what))

    def token_request_from(self, request: Request) -> None:
        wait = self.token_requests_per_ip.take(client_ip(request))
        if wait:
            raise Throttled(too_many("ip_token", wait, "too many token requests from here"))

    def registration_from(self, request: Request) -> None:
        wait = self.registrations_per_ip.take(client_ip(request))
        if wait:
            raise Throttled(too_many("ip_registration", wait, "too many registrations from here"))
