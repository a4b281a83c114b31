"""What a client of livefold's authorization server does, step by step over HTTP (httpx): the
web app or an SDK signing a user in with the authorization code and PKCE."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

CLIENT_ID = "livefold-web"
# An SDK waiting on a loopback port of its choosing (RFC 8252): any port is accepted.
REDIRECT_URI = "http://127.0.0.1:53117/callback"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorization_request(
    pkce: Pkce | None,
    *,
    state: str = "state-1",
    redirect_uri: str = REDIRECT_URI,
    scope: str = "openid profile email",
    nonce: str = "nonce-1",
    **extra: str,
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
    }
    if pkce is not None:
        params |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    return params | extra


def new_username() -> str:
    return f"user{uuid.uuid4().hex[:10]}"


def register(
    http: httpx.Client, base: str, username: str | None = None, **fields: str
) -> dict[str, Any]:
    username = username or new_username()
    body = {
        "username": username,
        "password": PASSWORD,
        "display_name": f"Display {username}",
        "email": f"{username}@example.org",
        **fields,
    }
    response = http.post(f"{base}/api/v1/accounts", json=body)
    assert response.status_code == 201, response.text
    account: dict[str, Any] = response.json()
    return account


def sign_in(
    http: httpx.Client,
    base: str,
    username: str,
    password: str = PASSWORD,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """Open the sign-in page, then post the form as a browser would; the response to the post."""
    query = params or authorization_request(new_pkce())
    page = http.get(f"{base}/oauth/authorize", params=query)
    assert page.status_code == 200, page.text
    assert '<form method="post"' in page.text
    return http.post(
        f"{base}/oauth/authorize",
        params=query,
        data={"username": username, "password": password},
    )


def code_from(response: httpx.Response, state: str = "state-1") -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


def redeem(
    http: httpx.Client, base: str, code: str, verifier: str, redirect_uri: str = REDIRECT_URI
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    return http.post(f"{base}/oauth/token", data=form)


def refresh(http: httpx.Client, base: str, refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}
    return http.post(f"{base}/oauth/token", data=form)


def tokens(
    http: httpx.Client, base: str, username: str, password: str = PASSWORD
) -> dict[str, Any]:
    """Sign in with the whole flow and return the token response."""
    pkce = new_pkce()
    code = code_from(sign_in(http, base, username, password, authorization_request(pkce)))
    response = redeem(http, base, code, pkce.verifier)
    assert response.status_code == 200, response.text
    issued: dict[str, Any] = response.json()
    return issued


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified (the test reads what it was given)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded
