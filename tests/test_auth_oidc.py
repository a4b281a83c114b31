"""Tokens from an external OpenID Connect provider, configured by issuer URL: accepted when its
issuer is configured, refused otherwise. The external provider here is a second, separate
livefold authorization server (its own URL, its own keys), found through its discovery document
like any provider."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from pydantic import ValidationError

from gateway.auth.oidc import ExternalIssuer
from gateway.auth.verifier import external_user_id
from livefold.access.tokens import AuthError, SigningKeys, issue_access_token, verify_access_token
from livefold.settings import Settings
from tests.auth_client import CLIENT_ID, bearer, claims_of, register, tokens
from tests.auth_gateway import AuthGateway, auth_gateway, gateway_settings, grant_admin


@pytest.fixture(scope="module")
def provider(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthGateway]:
    """The external provider: knows nothing of the local issuer. Its client registered ES256
    ID tokens (the local one has the default, RS256)."""
    settings = gateway_settings(
        stack,
        tmp_path_factory.mktemp("oidc-provider"),
        oauth_id_token_signed_response_alg="ES256",
    )
    with auth_gateway(settings, "provider") as running:
        yield running


@pytest.fixture(scope="module")
def local(
    stack: Settings, provider: AuthGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthGateway]:
    """livefold's gateway, configured to accept the provider's tokens."""
    data_dir = tmp_path_factory.mktemp("oidc-local")
    settings = gateway_settings(stack, data_dir, oidc_issuers=(provider.url,))
    with auth_gateway(settings, "local") as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


def test_a_token_of_a_configured_provider_is_accepted_as_a_viewer_whatever_it_claims(
    provider: AuthGateway, local: AuthGateway, http: httpx.Client
) -> None:
    person = register(http, provider.url)
    grant_admin(provider, person["user_id"])  # an admin there, not here
    issued = tokens(http, provider.url, person["username"])
    at_home = http.get(f"{provider.url}/whoami", headers=bearer(issued["access_token"])).json()
    assert at_home["roles"] == ["admin", "viewer"]

    expected = external_user_id(provider.url, person["user_id"])
    here = http.get(f"{local.url}/whoami", headers=bearer(issued["access_token"]))
    assert here.status_code == 200, here.text
    expires_at = claims_of(issued["access_token"])["exp"]  # the provider's: its token's life
    assert here.json() == {"user_id": expected, "roles": ["viewer"], "expires_at": expires_at}
    me = http.get(f"{local.url}/api/v1/accounts/me", headers=bearer(issued["access_token"]))
    assert me.status_code == 200
    assert me.json() == {"user_id": expected, "roles": [{"role": "viewer", "channel_id": None}]}
    # Nor may an external identity use what only local accounts have.
    info = http.get(f"{local.url}/oauth/userinfo", headers=bearer(issued["access_token"]))
    assert info.status_code == 401
    deleted = http.delete(f"{local.url}/api/v1/accounts/me", headers=bearer(issued["access_token"]))
    assert deleted.status_code == 404


def test_roles_of_an_external_identity_are_granted_here_by_a_local_admin(
    provider: AuthGateway, local: AuthGateway, http: httpx.Client
) -> None:
    outsider = register(http, provider.url)
    outsider_token = tokens(http, provider.url, outsider["username"])["access_token"]
    boss = register(http, local.url)
    grant_admin(local, boss["user_id"])
    admin_token = tokens(http, local.url, boss["username"])["access_token"]

    identity = external_user_id(provider.url, outsider["user_id"])
    granted = http.post(
        f"{local.url}/api/v1/accounts/{identity}/roles",
        json={"role": "streamer"},
        headers=bearer(admin_token),
    )
    assert granted.status_code == 200, granted.text
    here = http.get(f"{local.url}/whoami", headers=bearer(outsider_token)).json()
    assert here["roles"] == ["streamer", "viewer"]  # the same token: roles are looked up here


def test_tokens_of_an_issuer_that_is_not_configured_are_refused(
    provider: AuthGateway, local: AuthGateway, http: httpx.Client
) -> None:
    person = register(http, local.url)
    local_token = tokens(http, local.url, person["username"])["access_token"]
    assert http.get(f"{local.url}/whoami", headers=bearer(local_token)).status_code == 200
    # The provider was not told about livefold's issuer: it refuses livefold's tokens.
    there = http.get(f"{provider.url}/whoami", headers=bearer(local_token))
    assert there.status_code == 401
    assert there.json()["reason"] == "token from an unknown issuer"

    # A stranger issuer, with keys of its own, naming a local account: refused here too.
    stranger = SigningKeys(local.settings.data_dir / f"stranger-{uuid.uuid4().hex}.json")
    forged = issue_access_token(
        stranger,
        user_id=person["user_id"],
        roles={"admin"},
        issuer="http://127.0.0.1:9/stranger",
        audience="livefold",
    )
    assert http.get(f"{local.url}/whoami", headers=bearer(forged)).status_code == 401

    # And the configured provider's URL with keys it never published: refused.
    impostor = SigningKeys(local.settings.data_dir / f"impostor-{uuid.uuid4().hex}.json")
    provider_kid = SigningKeys(provider.settings.data_dir / "auth" / "signing-key.json").kid
    impostor.key = ECKey.import_key(impostor.key.as_dict(private=True) | {"kid": provider_kid})
    posing = issue_access_token(
        impostor, user_id="someone", roles={"viewer"}, issuer=provider.url, audience="livefold"
    )
    refused = http.get(f"{local.url}/whoami", headers=bearer(posing))
    assert refused.status_code == 401 and "invalid token" in refused.json()["reason"]


def kid_of(token: str) -> str:
    kid = jws.extract_compact(token.encode()).headers()["kid"]
    assert isinstance(kid, str)
    return kid


def test_a_provider_that_rotates_its_key_is_followed_when_a_token_names_the_new_one(
    stack: Settings, tmp_path: Path, http: httpx.Client
) -> None:
    settings = gateway_settings(stack, tmp_path / "rotating")
    url = settings.gateway_url
    following = ExternalIssuer(url, http, refetch_interval=0)
    throttled = ExternalIssuer(url, http, refetch_interval=3600)
    with auth_gateway(settings, "rotating-before") as provider:
        person = register(http, provider.url)
        old = tokens(http, provider.url, person["username"])["access_token"]
        for issuer in (following, throttled):
            keys = issuer.key_set(kid_of(old))
            assert verify_access_token(old, keys, issuer=url, audience="livefold").user_id

    (settings.data_dir / "auth" / "signing-key.json").unlink()  # the provider rotates its key
    with auth_gateway(settings, "rotating-after") as provider:
        new = tokens(http, provider.url, person["username"])["access_token"]
        assert kid_of(new) != kid_of(old)
        keys = following.key_set(kid_of(new))  # an unknown kid: the keys are fetched again
        assert verify_access_token(new, keys, issuer=url, audience="livefold").user_id
        stale = throttled.key_set(kid_of(new))  # fetched too recently: no request, old keys
        with pytest.raises(AuthError, match="invalid token"):
            verify_access_token(new, stale, issuer=url, audience="livefold")


def test_id_tokens_are_signed_as_the_client_registered_and_verify_against_the_served_keys(
    provider: AuthGateway, local: AuthGateway, http: httpx.Client
) -> None:
    for server, algorithm, other in ((local, "RS256", "ES256"), (provider, "ES256", "RS256")):
        document = http.get(f"{server.url}/.well-known/openid-configuration").json()
        assert document["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
        jwks = http.get(document["jwks_uri"]).json()
        assert sorted(key["alg"] for key in jwks["keys"]) == ["ES256", "RS256"]
        assert len({key["kid"] for key in jwks["keys"]}) == 2
        keys = KeySet.import_key_set(jwks)

        person = register(http, server.url)
        id_token = tokens(http, server.url, person["username"])["id_token"]
        header = jws.extract_compact(id_token.encode()).headers()
        assert header["alg"] == algorithm
        assert header["kid"] == next(k["kid"] for k in jwks["keys"] if k["alg"] == algorithm)
        claims = jwt.decode(id_token, keys, algorithms=[algorithm]).claims
        assert (claims["iss"], claims["aud"], claims["sub"]) == (
            server.url,
            CLIENT_ID,
            person["user_id"],
        )
        with pytest.raises(JoseError):  # not what this client registered
            jwt.decode(id_token, keys, algorithms=[other])

    # No other algorithm can be registered for a client, nor signed with.
    with pytest.raises(ValidationError):
        Settings.model_validate({"oauth_id_token_signed_response_alg": "HS256"})
    with pytest.raises(ValueError, match="ID tokens are signed with RS256 or ES256"):
        SigningKeys(local.settings.data_dir / "auth" / "signing-key.json").id_token_key("none")
