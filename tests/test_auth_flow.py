"""Signing in to livefold's own authorization server over HTTP, as the web app and the SDKs do:
registration, the authorization code with PKCE, refresh-token rotation, revocation. Two gateway
processes serve one issuer (behind a load balancer they would share its URL): what one issues,
the other honours, and a token replayed on the other is caught."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from livefold.access.tokens import SigningKeys, issue_access_token
from livefold.settings import Settings
from tests.auth_client import (
    CLIENT_ID,
    PASSWORD,
    REDIRECT_URI,
    authorization_request,
    bearer,
    claims_of,
    code_from,
    new_pkce,
    redeem,
    refresh,
    register,
    sign_in,
    tokens,
)
from tests.auth_gateway import AuthGateway, auth_gateway, gateway_settings, grant_admin


@pytest.fixture(scope="module")
def gateways(
    stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AuthGateway, AuthGateway]]:
    """Two gateway processes of one issuer: one data dir (keys), one public URL."""
    data_dir = tmp_path_factory.mktemp("auth-flow")
    first = gateway_settings(stack, data_dir)
    second = gateway_settings(stack, data_dir, public_url=first.gateway_url)
    with auth_gateway(first, "gateway-1") as one, auth_gateway(second, "gateway-2") as two:
        yield one, two


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


def test_a_user_registers_signs_in_with_pkce_and_rotates_refresh_tokens(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, _ = gateways
    account = register(http, one.url)
    issued = tokens(http, one.url, account["username"])
    assert issued["token_type"] == "Bearer"
    claims = claims_of(issued["access_token"])
    assert claims["sub"] == account["user_id"]
    assert claims["roles"] == ["viewer"]

    me = http.get(f"{one.url}/api/v1/accounts/me", headers=bearer(issued["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == account["email"]

    rotated = refresh(http, one.url, issued["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] != issued["refresh_token"]

    replayed = refresh(http, one.url, issued["refresh_token"])
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"


def test_discovery_names_every_endpoint_and_the_keys_verify_issued_tokens(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, two = gateways
    document = http.get(f"{two.url}/.well-known/openid-configuration").json()
    metadata = OpenIDProviderMetadata(document)  # authlib's checks of RFC 8414 / OIDC Discovery
    for check in dir(metadata):
        if check.startswith("validate_"):
            getattr(metadata, check)()
    assert document["issuer"] == one.url  # the second gateway serves the same issuer
    assert document["code_challenge_methods_supported"] == ["S256"]

    account = register(http, one.url)
    issued = tokens(http, one.url, account["username"])
    keys = KeySet.import_key_set(http.get(document["jwks_uri"]).json())
    access = jwt.decode(issued["access_token"], keys, algorithms=["ES256"])
    assert access.claims["iss"] == one.url and access.claims["aud"] == "livefold"
    identity = jwt.decode(issued["id_token"], keys, algorithms=["RS256"]).claims  # the default
    assert identity["aud"] == CLIENT_ID and identity["nonce"] == "nonce-1"
    assert identity["sub"] == account["user_id"]

    info = http.get(f"{two.url}/oauth/userinfo", headers=bearer(issued["access_token"]))
    assert info.status_code == 200, info.text
    assert info.json() == {
        "sub": account["user_id"],
        "roles": ["viewer"],
        "preferred_username": account["username"],
        "name": account["display_name"],
        "email": account["email"],
    }


def test_what_one_gateway_issues_the_other_honours_and_a_replay_there_ends_the_session(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, two = gateways
    account = register(http, one.url)
    pkce = new_pkce()
    code = code_from(
        sign_in(http, one.url, account["username"], params=authorization_request(pkce))
    )
    issued = redeem(http, two.url, code, pkce.verifier)  # the code was made by the other one
    assert issued.status_code == 200, issued.text
    first = issued.json()

    rotated = refresh(http, two.url, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()

    # The spent token, stolen and replayed on the other gateway: refused, and since the log
    # cannot tell thief from owner, the whole session ends.
    replayed = refresh(http, one.url, first["refresh_token"])
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    assert refresh(http, two.url, second["refresh_token"]).json()["error"] == "invalid_grant"
    me = http.get(f"{one.url}/api/v1/accounts/me", headers=bearer(second["access_token"]))
    assert me.status_code == 401
    assert "session ended" in me.text


def test_an_authorization_code_works_once_and_its_second_use_revokes_the_first(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, two = gateways
    account = register(http, one.url)
    pkce = new_pkce()
    code = code_from(
        sign_in(http, one.url, account["username"], params=authorization_request(pkce))
    )
    first = redeem(http, one.url, code, pkce.verifier)
    assert first.status_code == 200, first.text

    again = redeem(http, two.url, code, pkce.verifier)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "authorization code already used",
    }
    assert refresh(http, one.url, first.json()["refresh_token"]).status_code == 400


def test_a_wrong_password_or_unknown_user_shows_the_form_again_and_issues_nothing(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, _ = gateways
    account = register(http, one.url)
    for username, password in (
        (account["username"], "not the password"),
        ("nobody-here", PASSWORD),
    ):
        response = sign_in(http, one.url, username, password)
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert "location" not in response.headers


def test_a_code_redeemed_with_the_wrong_verifier_is_refused(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, _ = gateways
    account = register(http, one.url)
    pkce = new_pkce()
    code = code_from(
        sign_in(http, one.url, account["username"], params=authorization_request(pkce))
    )
    wrong = redeem(http, one.url, code, new_pkce().verifier)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    missing = http.post(
        f"{one.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
        },
    )
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_pkce_with_s256_is_required_and_unknown_redirects_are_never_followed(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, _ = gateways
    without_pkce = http.get(f"{one.url}/oauth/authorize", params=authorization_request(None))
    assert without_pkce.status_code == 302  # the client is known: it hears the error
    error = parse_qs(urlsplit(without_pkce.headers["location"]).query)
    assert error["error"] == ["invalid_request"] and error["state"] == ["state-1"]

    plain = authorization_request(new_pkce(), code_challenge_method="plain")
    refused = http.get(f"{one.url}/oauth/authorize", params=plain)
    assert parse_qs(urlsplit(refused.headers["location"]).query)["error"] == ["invalid_request"]

    elsewhere = authorization_request(new_pkce(), redirect_uri="https://evil.example/callback")
    page = http.get(f"{one.url}/oauth/authorize", params=elsewhere)
    assert page.status_code == 400 and "location" not in page.headers

    other_port = authorization_request(new_pkce(), redirect_uri="http://127.0.0.1:61000/callback")
    assert http.get(f"{one.url}/oauth/authorize", params=other_port).status_code == 200


def test_expired_forged_and_tampered_tokens_are_refused(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client, tmp_path: Path
) -> None:
    one, _ = gateways
    account = register(http, one.url)
    keys = SigningKeys(one.settings.data_dir / "auth" / "signing-key.json")  # the issuer's own
    common = {"user_id": account["user_id"], "issuer": one.url, "audience": "livefold"}
    expired = issue_access_token(keys, roles={"viewer"}, now=time.time() - 3600, **common)

    impostor = SigningKeys(tmp_path / "impostor.json")  # another key claiming the same kid
    impostor.key = ECKey.import_key(impostor.key.as_dict(private=True) | {"kid": keys.kid})
    forged = issue_access_token(impostor, roles={"admin"}, **common)

    genuine = issue_access_token(keys, roles={"viewer"}, **common)
    header, _, signature = genuine.split(".")
    raised = claims_of(genuine) | {"roles": ["admin"]}
    encoded = base64.urlsafe_b64encode(json.dumps(raised).encode()).rstrip(b"=").decode()
    tampered = f"{header}.{encoded}.{signature}"
    no_signature = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    unsigned = f"{no_signature}.{encoded}."

    for token, reason in (
        (expired, "token expired"),
        (forged, "invalid token"),
        (tampered, "invalid token"),
        (unsigned, "invalid token"),
        ("not-a-jwt", "malformed token"),
    ):
        response = http.get(f"{one.url}/whoami", headers=bearer(token))
        assert response.status_code == 401, token
        assert reason in response.json()["reason"]
        info = http.get(f"{one.url}/oauth/userinfo", headers=bearer(token))
        assert info.status_code == 401
        assert info.headers["www-authenticate"].startswith("Bearer")
    known = http.get(f"{one.url}/whoami", headers=bearer(genuine))
    assert known.status_code == 200
    assert known.json()["expires_at"] == claims_of(genuine)["exp"]


def test_signing_out_revokes_the_refresh_token_and_the_sessions_access_tokens(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, two = gateways
    account = register(http, one.url)
    issued = tokens(http, one.url, account["username"])
    revoked = http.post(
        f"{one.url}/oauth/revoke",
        data={"token": issued["refresh_token"], "client_id": CLIENT_ID},
    )
    assert revoked.status_code == 200, revoked.text
    assert refresh(http, two.url, issued["refresh_token"]).json()["error"] == "invalid_grant"
    assert http.get(f"{two.url}/whoami", headers=bearer(issued["access_token"])).status_code == 401
    # RFC 7009: revoking what is not a token is not an error
    junk = http.post(f"{one.url}/oauth/revoke", data={"token": "junk", "client_id": CLIENT_ID})
    assert junk.status_code == 200


def test_registration_explains_every_bad_field_and_refuses_a_taken_username(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, two = gateways
    bad = http.post(
        f"{one.url}/api/v1/accounts",
        json={"username": "x", "password": "short", "display_name": "", "email": "nope", "age": 3},
    )
    assert bad.status_code == 422
    fields = {entry["field"] for entry in bad.json()["fields"]}
    assert fields == {"username", "password", "display_name", "email", "age"}
    assert (
        http.post(
            f"{one.url}/api/v1/accounts", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert http.post(f"{one.url}/api/v1/accounts", data={"a": "b"}).status_code == 415
    # JSON may escape a lone surrogate, which no UTF-8 text (nor a password hash) can hold.
    surrogate = b'{"username": "lone", "password": "\\ud800 is no text", "display_name": "L",'
    surrogate += b' "email": "l@example.org"}'
    lone = http.post(
        f"{one.url}/api/v1/accounts",
        content=surrogate,
        headers={"content-type": "application/json"},
    )
    assert lone.status_code == 422, lone.text
    assert [entry["field"] for entry in lone.json()["fields"]] == ["password"]

    account = register(http, one.url)
    taken = http.post(
        f"{two.url}/api/v1/accounts",
        json={
            "username": account["username"].upper(),
            "password": PASSWORD,
            "display_name": "Someone else",
            "email": "else@example.org",
        },
    )
    assert taken.status_code == 409


def test_token_endpoint_errors_are_oauth_errors_not_crashes(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, _ = gateways
    for form in (
        {"grant_type": "password", "username": "a", "password": "b", "client_id": CLIENT_ID},
        {
            "grant_type": "authorization_code",
            "code": "garbage",
            "client_id": CLIENT_ID,
            "code_verifier": new_pkce().verifier,
            "redirect_uri": REDIRECT_URI,
        },
        {"grant_type": "refresh_token", "refresh_token": "garbage", "client_id": CLIENT_ID},
        {"grant_type": "refresh_token", "refresh_token": "garbage", "client_id": "unknown"},
    ):
        response = http.post(f"{one.url}/oauth/token", data=form)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"] in (
            "unsupported_grant_type",
            "invalid_grant",
            "invalid_client",
        )
    as_json = http.post(f"{one.url}/oauth/token", json={"grant_type": "refresh_token"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    # authlib cannot even describe an error about a parameter beyond printable ASCII.
    odd = http.post(f"{one.url}/oauth/token", data={"grant_type": "pässword"})
    assert odd.status_code == 400 and odd.json()["error"] == "invalid_request"
    assert "printable ASCII" in odd.json()["error_description"]
    odd_type = authorization_request(new_pkce(), response_type="cöde")
    page = http.get(f"{one.url}/oauth/authorize", params=odd_type)
    assert page.status_code == 400 and "printable ASCII" in page.text


def test_a_role_granted_by_an_admin_appears_in_the_next_tokens_and_only_admins_grant(
    gateways: tuple[AuthGateway, AuthGateway], http: httpx.Client
) -> None:
    one, two = gateways
    boss, user = register(http, one.url), register(http, one.url)
    grant_admin(one, boss["user_id"])
    admin_tokens = tokens(http, one.url, boss["username"])
    assert claims_of(admin_tokens["access_token"])["roles"] == ["admin", "viewer"]
    user_tokens = tokens(http, one.url, user["username"])

    roles_url = f"{two.url}/api/v1/accounts/{user['user_id']}/roles"
    refused = http.post(
        roles_url, json={"role": "streamer"}, headers=bearer(user_tokens["access_token"])
    )
    assert refused.status_code == 403
    granted = http.post(
        roles_url, json={"role": "streamer"}, headers=bearer(admin_tokens["access_token"])
    )
    assert granted.status_code == 200, granted.text
    assert {"role": "streamer", "channel_id": None} in granted.json()["roles"]
    moderator = http.post(
        roles_url,
        json={"role": "moderator", "channel_id": "stream-a"},
        headers=bearer(admin_tokens["access_token"]),
    )
    assert moderator.status_code == 200

    # The token in hand keeps its roles until it expires; the next one (other gateway) has it.
    assert claims_of(user_tokens["access_token"])["roles"] == ["viewer"]
    renewed = refresh(http, one.url, user_tokens["refresh_token"]).json()
    assert claims_of(renewed["access_token"])["roles"] == [
        "streamer",
        "viewer",
    ]  # per-stream roles stay out
    me = http.get(f"{one.url}/api/v1/accounts/me", headers=bearer(renewed["access_token"])).json()
    assert {"role": "moderator", "channel_id": "stream-a"} in me["roles"]

    revoked = http.delete(f"{roles_url}/streamer", headers=bearer(admin_tokens["access_token"]))
    assert revoked.status_code == 200
    again = refresh(http, two.url, renewed["refresh_token"]).json()
    assert claims_of(again["access_token"])["roles"] == ["viewer"]
    bad = http.post(
        roles_url, json={"role": "emperor"}, headers=bearer(admin_tokens["access_token"])
    )
    assert bad.status_code == 422
    nobody = f"{two.url}/api/v1/accounts/nobody-{user['user_id']}/roles/streamer"
    unknown = http.delete(nobody, headers=bearer(admin_tokens["access_token"]))
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    too_long = f"{two.url}/api/v1/accounts/{'x' * 201}/roles"
    long_id = http.post(
        too_long, json={"role": "streamer"}, headers=bearer(admin_tokens["access_token"])
    )
    assert long_id.status_code == 422 and long_id.json()["fields"][0]["field"] == "user_id"
