"""Several registries on one `_schemas` topic: every one follows the topic, one elected writer
takes every write (the others forward), ids stay unique, and another takes over when it stops."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from infra import kafka, registry
from infra.registry import RegistryService
from infra.service import Port, free_port, running
from livefold.settings import Settings
from tests.gateways import eventually
from tests.servers import log_to


def another_registry(settings: Settings, name: str) -> RegistryService:
    """One more registry of the stack's group, on a port of its own."""
    port = free_port()
    return replace(
        registry.service(settings),
        name=name,
        workdir=settings.data_dir / name,
        ports=[Port(port, "LIVEFOLD_REGISTRY_PORT")],
        port=port,
    )


def vote_schema(tag: str) -> Schema:
    fields = [{"name": "option", "type": "int"}, {"name": tag, "type": "string", "default": ""}]
    document = {"type": "record", "name": "Vote", "namespace": "test.group", "fields": fields}
    return Schema(json.dumps(document), "AVRO")


def client(url: str, settings: Settings) -> SchemaRegistryClient:
    """A new client each time: answers come from the server, never from a client's cache."""
    return SchemaRegistryClient({**settings.registry_config(), "url": url})


def writer(settings: Settings) -> tuple[str, str]:
    return settings.registry_username, settings.secret("registry_password")


@pytest.fixture(scope="module")
def second_registry(stack: Settings) -> Iterator[str]:
    service = another_registry(stack, "registry-second")
    with running([service], output=log_to(stack.data_dir / "logs")):
        yield service.url


def test_writes_through_either_registry_are_read_from_both_with_unique_ids(
    stack: Settings, second_registry: str
) -> None:
    registries = [stack.registry, second_registry]
    subject = f"group-{uuid.uuid4().hex[:8]}"
    written: dict[str, int] = {}
    for n in range(6):
        tag = f"field_{n}"
        through = registries[n % 2]
        written[tag] = client(through, stack).register_schema(f"{subject}-{n}", vote_schema(tag))

    assert len(set(written.values())) == len(written), f"one id handed out twice: {written}"
    for url in registries:
        for n, (tag, schema_id) in enumerate(written.items()):
            reader = client(url, stack)
            assert json.loads(reader.get_schema(schema_id).schema_str or "") == json.loads(
                vote_schema(tag).schema_str or ""
            ), f"{url} gives another schema for id {schema_id}"
            assert reader.get_latest_version(f"{subject}-{n}").schema_id == schema_id
            assert reader.lookup_schema(f"{subject}-{n}", vote_schema(tag)).schema_id == schema_id


def test_registrations_racing_through_both_registries_never_share_an_id(
    stack: Settings, second_registry: str
) -> None:
    registries = [stack.registry, second_registry]
    subject = f"race-{uuid.uuid4().hex[:8]}"

    def register(n: int) -> tuple[str, int]:
        tag = f"field_{n}"
        return tag, client(registries[n % 2], stack).register_schema(subject, vote_schema(tag))

    with ThreadPoolExecutor(8) as pool:
        written = dict(pool.map(register, range(16)))

    assert len(set(written.values())) == 16, f"one id handed out twice: {written}"
    for url in registries:
        versions = client(url, stack).get_versions(subject)
        assert versions == list(range(1, 17))
        ids = {client(url, stack).get_version(subject, v).schema_id for v in versions}
        assert ids == set(written.values())


def test_configuration_written_through_one_registry_is_read_from_the_other(
    stack: Settings, second_registry: str
) -> None:
    subject = f"config-{uuid.uuid4().hex[:8]}"
    client(second_registry, stack).register_schema(subject, vote_schema("first"))
    answer = httpx.put(
        f"{second_registry}/config/{subject}", json={"compatibility": "NONE"}, auth=writer(stack)
    )
    assert answer.json() == {"compatibility": "NONE"}
    assert client(second_registry, stack).get_compatibility(subject) == "NONE"
    # The other registry follows the topic: it sees the level within moments.
    eventually(lambda: httpx.get(f"{stack.registry}/config/{subject}").status_code == 200, 10)
    assert client(stack.registry, stack).get_compatibility(subject) == "NONE"


def test_when_the_writing_registry_stops_another_takes_the_writes(scratch: Settings) -> None:
    first = registry.service(scratch)
    second = another_registry(scratch, "registry-second")
    logs = log_to(scratch.data_dir / "logs")
    with running([kafka.service(scratch), first, second], output=logs) as handles:
        before = client(first.url, scratch).register_schema("votes", vote_schema("a"))
        also = client(second.url, scratch).register_schema("votes", vote_schema("b"))
        leading = eventually(
            lambda: [url for url in (first.url, second.url) if leads(url, scratch)]
        )
        stopping, staying = (1, second) if leading == [first.url] else (2, first)

        handles[stopping].stop()
        after = client(staying.url, scratch).register_schema("votes", vote_schema("c"))

        assert len({before, also, after}) == 3
        handles[stopping].start()  # back as a follower; it reads what was written meanwhile
        rejoined = client(handles[stopping].service.url, scratch)  # type: ignore[attr-defined]
        assert json.loads(rejoined.get_schema(after).schema_str or "")["fields"][1]["name"] == "c"
        assert rejoined.get_versions("votes") == [1, 2, 3]


def leads(url: str, settings: Settings) -> bool:
    """A registry leads when it takes a write it may not forward."""
    answer = httpx.put(
        f"{url}/config/probe",
        json={"compatibility": "BACKWARD"},
        headers={"x-livefold-registry-forwarded": "test"},
        auth=writer(settings),
    )
    return answer.status_code == 200
