"""A record on the accounts topic that the gateway cannot fold (valid Avro, sealed with a real
data key, but the profile inside is a JSON list, as a buggy writer might append) is a poison
record: the gateway dead-letters it, counts it in an alert metric and folds on, instead of
retrying it forever while every later account change waits behind it."""

from __future__ import annotations

import uuid

import httpx

from gateway.auth.directory import profile_context
from livefold.accounts import ACCOUNT_CREATED, account_event
from livefold.data_keys import key_store, seal
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.producer import EventProducer
from tests.auth_client import register
from tests.fold_workers import dead_letters
from tests.gateways import gateway, metrics_of

METRIC = 'livefold_gateway_poison_records_total{reader="accounts"}'


def test_a_poison_accounts_record_is_dead_lettered_and_accounts_go_on(stack: Settings) -> None:
    with gateway(stack, "gateway-poison") as running:
        user_id = f"poison-{uuid.uuid4().hex[:8]}"
        key_id, key = key_store(running.settings).create()
        not_an_object = seal(key, b'["not", "a", "profile"]', profile_context(user_id))
        poison = account_event(
            ACCOUNT_CREATED,
            user_id,
            key_id=key_id,
            encrypted_profile=not_an_object,
            encrypted_credentials=b"",
        )
        producer = EventProducer(stack, Codec.from_settings(stack))
        try:
            producer.append_all([poison])
        finally:
            producer.close()
        with httpx.Client(timeout=60) as http:
            account = register(http, running.url)  # waits until every partition is folded
            assert account["user_id"] != user_id
        assert f"{METRIC} 1.0" in metrics_of(running)
        (headers,) = dead_letters(stack, user_id)
        assert headers["livefold.source.topic"] == event_topic("accounts")
        assert headers["livefold.reason"].startswith("the accounts fold failed: AttributeError(")
