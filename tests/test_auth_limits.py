"""Brute-force limits on the auth endpoints of a real `python -m gateway`, with tight buckets:
sign-in per address and per username, the token endpoint and registration per address. Each
refusal is 429 with Retry-After and a JSON reason. The clients come from different addresses
through X-Forwarded-For, which the gateway takes from the proxies it is told to trust (here,
loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from livefold.settings import Settings
from tests.auth_client import (
    CLIENT_ID,
    PASSWORD,
    code_from,
    new_username,
    refresh,
    register,
    sign_in,
)
from tests.gateways import Running, gateway, metrics_of


@pytest.fixture(scope="module")
def throttled(stack: Settings) -> Iterator[Running]:
    with gateway(
        stack,
        "gateway-auth-limits",
        auth_ip_sign_ins_per_minute=4.0,
        auth_account_sign_ins_per_minute=3.0,
        auth_ip_token_requests_per_minute=3.0,
        auth_ip_registrations_per_minute=2.0,
        gateway_trusted_proxies=("127.0.0.1",),
    ) as running:
        yield running


def client_at(address: str) -> httpx.Client:
    return httpx.Client(timeout=30.0, headers={"X-Forwarded-For": address})


def assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["error"] == "rate_limited" and reason in body["reason"], body


def test_registrations_over_the_rate_of_an_address_get_429(throttled: Running) -> None:
    bad = {"username": "x"}  # every attempt counts, a refused one too
    with client_at("203.0.113.10") as hasty, client_at("203.0.113.11") as other:
        url = f"{throttled.url}/api/v1/accounts"
        assert [hasty.post(url, json=bad).status_code for _ in range(2)] == [422, 422]
        assert_refused(hasty.post(url, json=bad), "too many registrations from here")
        assert other.post(url, json=bad).status_code == 422


def test_one_username_is_limited_across_addresses_and_others_are_not(throttled: Running) -> None:
    with client_at("198.51.100.1") as home:
        victim = register(home, throttled.url)["username"]
        bystander = register(home, throttled.url)["username"]
    guesses = [victim, victim.upper(), victim]  # one account, however it is spelled
    for n, name in enumerate(guesses):
        with client_at(f"192.0.2.{n + 1}") as attacker:
            assert sign_in(attacker, throttled.url, name, "wrong password").status_code == 401
    with client_at("192.0.2.100") as owner:
        # The owner, with the right password, waits too: the price of a per-account limit.
        answer = sign_in(owner, throttled.url, victim, PASSWORD)
        assert_refused(answer, "too many sign-in attempts for this username")
        assert "location" not in answer.headers
        code_from(sign_in(owner, throttled.url, bystander, PASSWORD))
        metrics = metrics_of(throttled)
        assert 'livefold_gateway_rate_limited_total{kind="account_sign_in"}' in metrics


def test_sign_ins_over_the_rate_of_an_address_get_429(throttled: Running) -> None:
    with client_at("198.51.100.2") as home:
        person = register(home, throttled.url)["username"]
    with client_at("203.0.113.20") as sprayer:
        for _ in range(4):  # four usernames, one guess each: under each username's limit
            assert sign_in(sprayer, throttled.url, new_username(), PASSWORD).status_code == 401
        answer = sign_in(sprayer, throttled.url, person, PASSWORD)
        assert_refused(answer, "too many sign-in attempts from here")
    with client_at("203.0.113.21") as elsewhere:
        code_from(sign_in(elsewhere, throttled.url, person, PASSWORD))


def test_token_requests_over_the_rate_of_an_address_get_an_oauth_429(throttled: Running) -> None:
    with client_at("203.0.113.30") as guesser, client_at("203.0.113.31") as other:
        for _ in range(3):
            answer = refresh(guesser, throttled.url, "guessed")
            assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
        for limited in (
            refresh(guesser, throttled.url, "guessed"),
            guesser.post(
                f"{throttled.url}/oauth/revoke", data={"token": "x", "client_id": CLIENT_ID}
            ),
        ):
            assert limited.status_code == 429, limited.text
            assert int(limited.headers["Retry-After"]) >= 1
            assert limited.json()["error"] == "slow_down"
            assert "too many token requests" in limited.json()["error_description"]
        assert refresh(other, throttled.url, "guessed").json()["error"] == "invalid_grant"
