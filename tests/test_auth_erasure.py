"""The right to erasure in an append-only log (crypto-shredding): personal fields reach the
accounts log only sealed with the person's data key, kept outside the log; deleting the account
destroys the key, so the log still replays while the person's data in it reads as nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.auth.account_routes import account_view
from gateway.auth.directory import AccountDirectory, profile_context
from livefold.accounts import ACCOUNT_CREATED, account_event
from livefold.data_keys import (
    SEALED_TEXT,
    DirectoryKeyStore,
    KeyErased,
    TextOpener,
    key_store,
    seal,
    seal_text,
    unseal,
)
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import Record, read_to_end
from streams.producer import EventProducer
from tests.auth_client import bearer, refresh, register, sign_in, tokens
from tests.auth_gateway import AuthGateway, auth_gateway, gateway_settings


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth-erasure")


@pytest.fixture(scope="module")
def gateway(stack: Settings, data_dir: Path) -> Iterator[AuthGateway]:
    with auth_gateway(gateway_settings(stack, data_dir), "gateway-erasure") as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


def accounts_log(settings: Settings) -> list[Record]:
    """Every record of the accounts topic, from offset zero."""
    codec = Codec.from_settings(settings)
    deadletter = EventProducer(settings, codec)
    try:
        return list(read_to_end(settings, codec, [event_topic("accounts")], deadletter))
    finally:
        deadletter.close()


def test_a_deleted_account_replays_as_deleted_with_its_personal_data_unreadable(
    gateway: AuthGateway, http: httpx.Client
) -> None:
    person, bystander = register(http, gateway.url), register(http, gateway.url)
    issued = tokens(http, gateway.url, person["username"])
    me = f"{gateway.url}/api/v1/accounts/me"
    changed = http.patch(
        me, json={"email": "new@example.org"}, headers=bearer(issued["access_token"])
    )
    assert changed.status_code == 200 and changed.json()["email"] == "new@example.org"

    written = [
        r.event for r in accounts_log(gateway.settings) if r.event.stream_id == person["user_id"]
    ]
    sealed = [e.body["encrypted_profile"] for e in written if "encrypted_profile" in e.body]
    assert len(sealed) == 2  # created, then changed
    in_the_log = b"".join(
        bytes(value) for e in written for value in e.body.values() if isinstance(value, bytes)
    )
    for secret in (person["username"], person["email"], "new@example.org", "Display", "argon2"):
        assert secret.encode() not in in_the_log
    key_id = written[0].body["key_id"]
    keys = key_store(gateway.settings)
    assert unseal(keys.get(key_id), sealed[1], profile_context(person["user_id"])).startswith(b"{")

    deleted = http.delete(me, headers=bearer(issued["access_token"]))
    assert deleted.status_code == 204, deleted.text
    with pytest.raises(KeyErased):
        keys.get(key_id)
    assert http.get(me, headers=bearer(issued["access_token"])).status_code == 401
    assert sign_in(http, gateway.url, person["username"]).status_code == 401
    assert refresh(http, gateway.url, issued["refresh_token"]).json()["error"] == "invalid_grant"

    # Replay the whole topic from offset zero, as a new process would.
    replayed = AccountDirectory(keys)
    for record in accounts_log(gateway.settings):
        replayed.apply(record.event, record.partition, record.offset)
    account = replayed.account(person["user_id"])
    assert account is not None and account.status == "deleted"
    assert account.profile is None and replayed.password_hash(person["user_id"]) is None
    view = account_view(account)
    assert (view["username"], view["display_name"], view["email"]) == (None, None, None)
    assert replayed.user_id_of(person["username"]) is None
    survivor = replayed.account(bystander["user_id"])
    assert survivor is not None and survivor.profile is not None
    assert survivor.profile.email == bystander["email"]


def test_anyone_reads_a_user_s_public_names_by_id_until_the_account_is_deleted(
    gateway: AuthGateway, http: httpx.Client
) -> None:
    person, other = register(http, gateway.url), register(http, gateway.url)
    profiles = f"{gateway.url}/api/v1/profiles"
    ids = f"{person['user_id']},{other['user_id']},nobody-here,{person['user_id']}"
    read = http.get(profiles, params={"ids": ids})  # no token: chat is readable signed out
    assert read.status_code == 200, read.text
    assert read.json()["items"] == [
        {"user_id": a["user_id"], "username": a["username"], "display_name": a["display_name"]}
        for a in (person, other)
    ] + [{"user_id": "nobody-here", "username": None, "display_name": None}]
    assert person["email"] not in read.text

    issued = tokens(http, gateway.url, person["username"])
    me = f"{gateway.url}/api/v1/accounts/me"
    assert http.delete(me, headers=bearer(issued["access_token"])).status_code == 204
    erased = http.get(profiles, params={"ids": person["user_id"]}).json()["items"]
    assert erased == [{"user_id": person["user_id"], "username": None, "display_name": None}]

    for bad in ({}, {"ids": ""}, {"ids": ",".join(["u"] * 101)}, {"ids": "x" * 201}):
        refused = http.get(profiles, params=bad)
        assert refused.status_code == 422 and refused.json()["fields"][0]["field"] == "ids"


def test_a_gateway_booting_after_a_deletion_replays_it_and_the_name_is_free_again(
    gateway: AuthGateway, http: httpx.Client, stack: Settings, data_dir: Path
) -> None:
    person = register(http, gateway.url)
    issued = tokens(http, gateway.url, person["username"])
    me = f"{gateway.url}/api/v1/accounts/me"
    assert http.delete(me, headers=bearer(issued["access_token"])).status_code == 204

    # Another gateway of the same issuer, started only now: it reads the deletion at boot.
    late_settings = gateway_settings(stack, data_dir, public_url=gateway.url)
    with auth_gateway(late_settings, "gateway-late") as late:
        assert sign_in(http, late.url, person["username"]).status_code == 401
        refused = http.get(f"{late.url}/whoami", headers=bearer(issued["access_token"]))
        assert refused.status_code == 401 and "deleted" in refused.json()["reason"]
        again = register(http, late.url, person["username"])
        assert again["user_id"] != person["user_id"]
        assert tokens(http, late.url, person["username"])["access_token"]


def test_the_directory_key_store_forgets_a_destroyed_key_for_good(tmp_path: Path) -> None:
    keys = DirectoryKeyStore(tmp_path / "data-keys")
    key_id, key = keys.create()
    sealed = seal(key, b'{"email": "a@example.org"}', "user-1/profile")
    assert unseal(keys.get(key_id), sealed, "user-1/profile") == b'{"email": "a@example.org"}'
    with pytest.raises(ValueError, match="does not open"):
        unseal(key, sealed, "user-2/profile")  # moved to another user: refused
    assert (tmp_path / "data-keys" / f"{key_id}.key").stat().st_mode & 0o077 == 0
    keys.destroy(key_id)
    keys.destroy(key_id)  # destroying twice is fine
    with pytest.raises(KeyErased):
        keys.get(key_id)
    with pytest.raises(ValueError, match="malformed data key id"):
        keys.get("../../etc/passwd")


def test_a_sealed_text_opens_until_its_key_is_destroyed_and_never_elsewhere(
    tmp_path: Path,
) -> None:
    keys = DirectoryKeyStore(tmp_path / "data-keys")
    key_id, key = keys.create()
    other_id, _ = keys.create()
    sealed = seal_text(key_id, key, "thanks for the stream")
    assert sealed.startswith(SEALED_TEXT) and "thanks" not in sealed
    opener = TextOpener(keys.get)
    assert opener.open(sealed) == "thanks for the stream"
    assert opener.open("typed as is") == "typed as is"  # not sealed: shown as written
    moved = sealed.replace(key_id, other_id)  # named another user's key: does not open
    assert TextOpener(keys.get).open(moved) is None
    assert opener.opened({"alert": {"message": sealed}, "n": [1, sealed]}) == {
        "alert": {"message": "thanks for the stream"},
        "n": [1, "thanks for the stream"],
    }
    keys.destroy(key_id)
    assert opener.open(sealed) == "thanks for the stream"  # remembered until forgotten
    opener.forget()
    assert opener.open(sealed) is None
    assert TextOpener(keys.get).open(sealed) is None


def test_an_account_event_naming_a_malformed_key_folds_as_unreadable_not_as_the_store_down(
    stack: Settings,
) -> None:
    """A gateway must not wait forever on a record it can never read: the key store (S3 here)
    answers a malformed key id with ValueError, and the directory folds the account as one
    whose profile does not open."""
    keys = key_store(stack)
    with pytest.raises(ValueError, match="malformed data key id"):
        keys.get("k1")
    directory = AccountDirectory(keys)
    created = account_event(
        ACCOUNT_CREATED, "user-k1", key_id="k1", encrypted_profile=b"\x01" + bytes(40),
        encrypted_credentials=None,
    )  # fmt: skip
    directory.apply(created, 0, 0)
    account = directory.account("user-k1")
    assert account is not None and account.status == "active" and account.profile is None
