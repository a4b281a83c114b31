"""The Confluent Schema Registry REST subset that standard clients use, over `SchemaStore`.

Answers and errors have Confluent's shape (``{"error_code": 40401, "message": ...}``), which
confluent-kafka's `SchemaRegistryClient` turns into `SchemaRegistryError`. AVRO schemas only.

Reads are answered from this registry's own fold of `_schemas`; one that finds nothing first
catches up with the topic, so a schema registered through another registry a moment ago is
found. Writes are handled by the elected leader: another registry forwards them, as they came.
Reads are open; writes (registering, deleting, compatibility config) need the writer's HTTP
basic credentials (confluent-kafka's `basic.auth.user.info`), else 401 with error code 40101.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from registry.compatibility import AvroSchema, InvalidSchema, Level, parse, problems
from registry.forwarding import Handler, written
from registry.state import RegistryError, Version, no_subject_level, subject_not_found
from registry.store import SchemaStore

log = logging.getLogger("registry")

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryResponse(JSONResponse):
    media_type = MEDIA_TYPE


def writers_only(handler: Handler) -> Handler:
    """A write route, answered (or forwarded) only for the writer's basic credentials."""
    route = written(handler)

    async def checked(request: Request) -> Response:
        if not is_writer(request):
            raise RegistryError(
                401, 40101, "Unauthorized: writes need the registry writer's basic credentials"
            )
        return await route(request)

    return checked


def is_writer(request: Request) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    user, password = request.app.state.writer
    return hmac.compare_digest(given, f"{user}:{password}".encode())


def store_of(request: Request) -> SchemaStore:
    store: SchemaStore = request.app.state.store
    return store


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


async def json_body(request: Request, error_code: int) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RegistryError(422, error_code, f"Request body is not valid JSON: {error}") from None


async def schema_in(request: Request) -> AvroSchema:
    body = await json_body(request, 42201)
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise RegistryError(
            422,
            42201,
            "Request body must be a JSON object whose 'schema' field holds the schema as a string",
        )
    kind = body.get("schemaType") or "AVRO"
    if str(kind).upper() != "AVRO":
        raise RegistryError(
            422, 42201, f"Schema type {kind} is not supported: this registry accepts AVRO only"
        )
    if body.get("references"):
        raise RegistryError(
            422, 42201, "Schema references are not supported: define the referenced types inline"
        )
    try:
        return parse(body["schema"])
    except InvalidSchema as error:
        raise RegistryError(422, 42201, str(error)) from None


def version_spec(text: str) -> int | str:
    if text in ("latest", "-1"):
        return "latest"
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 2**31 - 1:
        return int(text)
    raise RegistryError(
        422,
        42202,
        f"The specified version '{text}' is not a valid version id. Allowed values are between "
        '[1, 2^31-1] and the string "latest"',
    )


async def schema_id(request: Request) -> int:
    text = request.path_params["id"]
    store = store_of(request)
    if text.isascii() and text.isdigit() and int(text) not in store.state.by_id:
        await store.sync()
    if not (text.isascii() and text.isdigit()) or int(text) not in store.state.by_id:
        raise RegistryError(404, 40403, f"Schema {text} not found")
    return int(text)


async def synced_on_miss(request: Request, read: Callable[[], Any]) -> Any:
    """`read()`'s answer; if it is "not found", the answer after catching up with the topic."""
    try:
        return read()
    except RegistryError as error:
        if error.status != 404:
            raise
    await store_of(request).sync()
    return read()


def described(version: Version) -> dict[str, Any]:
    return {
        "subject": version.subject,
        "version": version.version,
        "id": version.id,
        "schema": version.schema.text,
    }


async def root(request: Request) -> Response:
    return RegistryResponse({})


async def live(request: Request) -> Response:
    """Liveness: 200 while the process follows `_schemas`; 503 names what stopped."""
    failures = store_of(request).log.failures()
    return JSONResponse({"live": not failures, "failures": failures}, 503 if failures else 200)


async def ready(request: Request) -> Response:
    """Readiness: 200 once `_schemas` was read to where it ended at start, while live."""
    store = store_of(request)
    is_ready = store.ready and not store.log.failures()
    return JSONResponse({"ready": is_ready}, 200 if is_ready else 503)


async def list_subjects(request: Request) -> Response:
    names = store_of(request).state.subject_names(deleted=flag(request, "deleted"))
    prefix = request.query_params.get("subjectPrefix", "")
    return RegistryResponse(paged(request, [name for name in names if name.startswith(prefix)]))


def paged(request: Request, items: list[Any]) -> list[Any]:
    try:
        offset = max(0, int(request.query_params.get("offset", "0")))
        limit = int(request.query_params.get("limit", "-1"))
    except ValueError:
        raise RegistryError(422, 42200, "offset and limit must be integers") from None
    return items[offset:] if limit < 0 else items[offset : offset + limit]


async def list_versions(request: Request) -> Response:
    subject = request.path_params["subject"]

    def versions() -> list[Version]:
        found = store_of(request).state.live(subject, deleted=flag(request, "deleted"))
        if not found:
            raise subject_not_found(subject)
        return found

    found = await synced_on_miss(request, versions)
    return RegistryResponse(paged(request, [version.version for version in found]))


async def register(request: Request) -> Response:
    schema = await schema_in(request)
    version = await store_of(request).register(request.path_params["subject"], schema)
    return RegistryResponse(
        {"id": version.id, "subject": version.subject, "version": version.version}
    )


async def lookup(request: Request) -> Response:
    subject = request.path_params["subject"]
    schema = await schema_in(request)
    deleted = flag(request, "deleted")

    def find() -> Version:
        state = store_of(request).state
        if not state.live(subject, deleted):
            raise subject_not_found(subject)
        found = state.find(subject, schema, deleted)
        if found is None:
            raise RegistryError(404, 40403, "Schema not found")
        return found

    return RegistryResponse(described(await synced_on_miss(request, find)))


async def requested_version(request: Request) -> Version:
    subject = request.path_params["subject"]
    spec = version_spec(request.path_params["version"])
    deleted = flag(request, "deleted")
    version: Version = await synced_on_miss(
        request, lambda: store_of(request).state.version(subject, spec, deleted=deleted)
    )
    return version


async def get_version(request: Request) -> Response:
    return RegistryResponse(described(await requested_version(request)))


async def get_version_schema(request: Request) -> Response:
    return Response((await requested_version(request)).schema.text, media_type=MEDIA_TYPE)


async def delete_subject(request: Request) -> Response:
    deleted = await store_of(request).delete_subject(
        request.path_params["subject"], permanent=flag(request, "permanent")
    )
    return RegistryResponse(deleted)


async def delete_version(request: Request) -> Response:
    spec = version_spec(request.path_params["version"])
    deleted = await store_of(request).delete_version(
        request.path_params["subject"], spec, permanent=flag(request, "permanent")
    )
    return RegistryResponse(deleted)


async def get_schema(request: Request) -> Response:
    wanted = await schema_id(request)
    return RegistryResponse({"schema": store_of(request).state.by_id[wanted].text})


async def usages(request: Request) -> list[Version]:
    wanted, state = await schema_id(request), store_of(request).state
    deleted = flag(request, "deleted")
    return sorted(
        (version for version in state.usages(wanted) if deleted or not version.deleted),
        key=lambda version: (version.subject, version.version),
    )


async def get_schema_versions(request: Request) -> Response:
    found = await usages(request)
    return RegistryResponse([{"subject": v.subject, "version": v.version} for v in found])


async def get_schema_subjects(request: Request) -> Response:
    return RegistryResponse(sorted({version.subject for version in await usages(request)}))


async def schema_types(request: Request) -> Response:
    return RegistryResponse(["AVRO"])


async def test_compatibility(request: Request) -> Response:
    subject = request.path_params["subject"]
    schema = await schema_in(request)
    state = store_of(request).state
    level = state.level(subject)
    live = state.live(subject)
    text = request.path_params.get("version")
    if text is None:  # against every version the level asks for
        previous = live
    elif (spec := version_spec(text)) == "latest":
        previous = live[-1:]
    else:
        previous = [state.version(subject, spec)]
    found = problems(schema, [(v.version, v.schema) for v in previous], level)
    answer: dict[str, Any] = {"is_compatible": not found}
    if flag(request, "verbose"):
        answer["messages"] = found
    return RegistryResponse(answer)


async def level_in(request: Request) -> Level:
    body = await json_body(request, 42203)
    text = (
        body.get("compatibility", body.get("compatibilityLevel"))
        if isinstance(body, dict)
        else None
    )
    try:
        return Level.parse(text)
    except ValueError as error:
        raise RegistryError(422, 42203, str(error)) from None


async def get_config(request: Request) -> Response:
    subject = request.path_params.get("subject")
    state = store_of(request).state
    if subject is not None and subject not in state.levels and not flag(request, "defaultToGlobal"):
        raise no_subject_level(subject)
    return RegistryResponse({"compatibilityLevel": state.level(subject).value})


async def put_config(request: Request) -> Response:
    level = await level_in(request)
    await store_of(request).set_level(request.path_params.get("subject"), level)
    return RegistryResponse({"compatibility": level.value})


async def delete_config(request: Request) -> Response:
    old = await store_of(request).delete_level(request.path_params.get("subject"))
    return RegistryResponse({"compatibilityLevel": old.value})


async def get_mode(request: Request) -> Response:
    return RegistryResponse({"mode": "READWRITE"})


async def registry_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RegistryError)
    return RegistryResponse(
        {"error_code": error.error_code, "message": error.message}, status_code=error.status
    )


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return RegistryResponse(
        {"error_code": error.status_code, "message": error.detail}, status_code=error.status_code
    )


async def internal_error(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return RegistryResponse(
        {"error_code": 50001, "message": f"Internal error: {error!r}"}, status_code=500
    )


def routes() -> list[Route]:
    subject = "/subjects/{subject}"
    version = subject + "/versions/{version}"
    return [
        Route("/", root, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/subjects", list_subjects, methods=["GET"]),
        Route(subject, lookup, methods=["POST"]),
        Route(subject, writers_only(delete_subject), methods=["DELETE"]),
        Route(subject + "/versions", list_versions, methods=["GET"]),
        Route(subject + "/versions", writers_only(register), methods=["POST"]),
        Route(version, get_version, methods=["GET"]),
        Route(version, writers_only(delete_version), methods=["DELETE"]),
        Route(version + "/schema", get_version_schema, methods=["GET"]),
        Route("/schemas/types", schema_types, methods=["GET"]),
        Route("/schemas/ids/{id}", get_schema, methods=["GET"]),
        Route("/schemas/ids/{id}/versions", get_schema_versions, methods=["GET"]),
        Route("/schemas/ids/{id}/subjects", get_schema_subjects, methods=["GET"]),
        Route("/compatibility" + version, test_compatibility, methods=["POST"]),
        Route("/compatibility" + subject + "/versions", test_compatibility, methods=["POST"]),
        Route("/config", get_config, methods=["GET"]),
        Route("/config", writers_only(put_config), methods=["PUT"]),
        Route("/config", writers_only(delete_config), methods=["DELETE"]),
        Route("/config/{subject}", get_config, methods=["GET"]),
        Route("/config/{subject}", writers_only(put_config), methods=["PUT"]),
        Route("/config/{subject}", writers_only(delete_config), methods=["DELETE"]),
        Route("/mode", get_mode, methods=["GET"]),
        Route("/mode/{subject}", get_mode, methods=["GET"]),
    ]


def create_app(store: SchemaStore, writer: tuple[str, str]) -> Starlette:
    """`writer`: the user name and password that may write."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Serve nothing until the whole `_schemas` topic has been read.
        if not store.ready:
            await store.start()
        log.info("schema registry ready: %d subjects", len(store.state.subject_names()))
        yield
        await asyncio.to_thread(store.close)

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        exception_handlers={
            RegistryError: registry_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    app.state.store = store
    app.state.writer = writer
    return app
