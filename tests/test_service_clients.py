"""Service clients: an admin registers one for a script or bot, which then gets access tokens
with the OAuth client-credentials grant (no browser) and writes as its service account."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from livefold.settings import Settings
from tests.auth_client import bearer, claims_of, new_username, register, sign_in, tokens
from tests.auth_gateway import AuthGateway, auth_gateway, gateway_settings, grant_admin
from tests.test_gateway_http import events_in_log


@pytest.fixture(scope="module")
def gateway(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthGateway]:
    settings = gateway_settings(stack, tmp_path_factory.mktemp("service-clients"))
    with auth_gateway(settings, "gateway-service-clients") as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


def admin_token(http: httpx.Client, gateway: AuthGateway) -> str:
    boss = register(http, gateway.url)
    grant_admin(gateway, boss["user_id"])
    return str(tokens(http, gateway.url, boss["username"])["access_token"])


def test_a_service_client_gets_a_token_with_its_secret_and_writes_as_its_account(
    gateway: AuthGateway, http: httpx.Client
) -> None:
    url = f"{gateway.url}/api/v1/service-clients"
    name = new_username()
    user = register(http, gateway.url)
    user_token = tokens(http, gateway.url, user["username"])["access_token"]
    refused = http.post(url, json={"name": name}, headers=bearer(user_token))
    assert refused.status_code == 403

    admin = bearer(admin_token(http, gateway))
    made = http.post(url, json={"name": name}, headers=admin)
    assert made.status_code == 201, made.text
    client_id, secret = made.json()["client_id"], made.json()["client_secret"]
    assert made.json()["user_id"] == client_id and made.json()["username"] == name
    roles = f"{gateway.url}/api/v1/accounts/{client_id}/roles"
    assert http.post(roles, json={"role": "streamer"}, headers=admin).status_code == 200

    form = {"grant_type": "client_credentials"}
    issued = http.post(f"{gateway.url}/oauth/token", data=form, auth=(client_id, secret))
    assert issued.status_code == 200, issued.text
    assert "refresh_token" not in issued.json()
    access_token = issued.json()["access_token"]
    assert claims_of(access_token)["sub"] == client_id
    assert claims_of(access_token)["roles"] == ["streamer", "viewer"]
    posted_form = {**form, "client_id": client_id, "client_secret": secret}
    assert http.post(f"{gateway.url}/oauth/token", data=posted_form).status_code == 200

    stream = {"title": "Nightly builds", "category": "Software"}
    created = http.post(f"{gateway.url}/api/v1/streams", json=stream, headers=bearer(access_token))
    assert created.status_code == 202, created.text
    chat = f"{gateway.url}/api/v1/streams/{created.json()['stream_id']}/chat"
    sent = http.post(chat, json={"text": "build passed"}, headers=bearer(access_token))
    assert sent.status_code == 202, sent.text
    (event,) = events_in_log(gateway.settings, "chat", sent.json()["event_id"])
    assert (event.actor_id, event.body["text"]) == (client_id, "build passed")

    wrong = http.post(f"{gateway.url}/oauth/token", data=form, auth=(client_id, secret + "x"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    stranger = http.post(f"{gateway.url}/oauth/token", data=form, auth=(user["user_id"], "pw"))
    assert (stranger.status_code, stranger.json()["error"]) == (401, "invalid_client")
    # No password: nobody signs in as a service account in a browser.
    assert sign_in(http, gateway.url, name, secret).status_code == 401


def test_registering_a_service_client_needs_a_valid_free_name(
    gateway: AuthGateway, http: httpx.Client
) -> None:
    url = f"{gateway.url}/api/v1/service-clients"
    headers = bearer(admin_token(http, gateway))
    assert http.post(url, json={"name": "x"}, headers=headers).status_code == 422
    assert http.post(url, json={"nom": "bot-1"}, headers=headers).status_code == 422
    taken = register(http, gateway.url)["username"]
    assert http.post(url, json={"name": taken}, headers=headers).status_code == 409
