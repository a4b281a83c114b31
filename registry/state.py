"""The registry's state: a fold of the records on the compacted Kafka topic `_schemas`.

Records look like Confluent's: the key names what a record is about and the newest record per
key wins, which is what compaction keeps.

- key ``{"keytype":"SCHEMA","subject":s,"version":v,"magic":1}``, value
  ``{"subject":s,"version":v,"id":i,"schema":text,"deleted":bool}`` (a soft delete rewrites
  it, a permanent delete leaves no value);
- key ``{"keytype":"CONFIG","subject":s|null,"magic":0}``, value
  ``{"compatibilityLevel":level}``, or no value once that configuration is deleted;
- key ``{"keytype":"MAX_ID","magic":0}``, value ``{"id":i}``: written with a permanent delete,
  so that an id stays taken once compaction has dropped the schema that had it.

The fold keeps the first record that claims an id or a version (see `registry/store.py` for
why two could).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from registry.compatibility import AvroSchema, Level, parse

log = logging.getLogger("registry.state")

TOPIC = "_schemas"
Record = tuple[bytes, bytes | None]


class RegistryError(Exception):
    """An answer the client must get, in Confluent's terms (HTTP status + error_code)."""

    def __init__(self, status: int, error_code: int, message: str):
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def version_not_found(subject: str, version: int | str) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found for subject '{subject}'.")


def no_subject_level(subject: str) -> RegistryError:
    return RegistryError(
        404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured"
    )


@dataclass(frozen=True)
class Version:
    subject: str
    version: int
    id: int
    schema: AvroSchema
    deleted: bool = False


def _key(**fields: Any) -> bytes:
    # Compaction matches keys byte for byte: always the same field order and spacing.
    return json.dumps(fields, separators=(",", ":")).encode()


def schema_record(version: Version) -> Record:
    key = _key(keytype="SCHEMA", subject=version.subject, version=version.version, magic=1)
    value = {
        "subject": version.subject,
        "version": version.version,
        "id": version.id,
        "schema": version.schema.text,
        "deleted": version.deleted,
    }
    return key, json.dumps(value).encode()


def purge_record(version: Version) -> Record:
    key = _key(keytype="SCHEMA", subject=version.subject, version=version.version, magic=1)
    return key, None


def max_id_record(max_id: int) -> Record:
    return _key(keytype="MAX_ID", magic=0), json.dumps({"id": max_id}).encode()


def config_record(subject: str | None, level: Level | None) -> Record:
    key = _key(keytype="CONFIG", subject=subject, magic=0)
    value = None if level is None else json.dumps({"compatibilityLevel": level.value}).encode()
    return key, value


@dataclass
class State:
    """Subjects, versions, ids and configuration; changed only by `apply`."""

    subjects: dict[str, dict[int, Version]] = field(default_factory=dict)
    by_id: dict[int, AvroSchema] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # schema identity -> global id
    levels: dict[str | None, Level] = field(default_factory=dict)  # None: the global level
    max_id: int = 0

    def apply(self, key_bytes: bytes | None, value_bytes: bytes | None) -> None:
        try:
            self._apply(key_bytes, value_bytes)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # Written by something else or damaged: serving the rest beats refusing to start.
            log.warning("skipping unreadable %s record %r: %s", TOPIC, key_bytes, error)

    def _apply(self, key_bytes: bytes | None, value_bytes: bytes | None) -> None:
        key = json.loads(key_bytes) if key_bytes else {}
        value = json.loads(value_bytes) if value_bytes else None
        if key.get("keytype") == "SCHEMA":
            self._apply_schema(key["subject"], int(key["version"]), value)
        elif key.get("keytype") == "MAX_ID" and value is not None:
            self.max_id = max(self.max_id, int(value["id"]))
        elif key.get("keytype") == "CONFIG":
            subject = key.get("subject")
            if value is None:
                self.levels.pop(subject, None)
            else:
                self.levels[subject] = Level.parse(value["compatibilityLevel"])
        # Other key types (NOOP, MODE, ... from a Confluent registry) carry nothing we serve.

    def _apply_schema(self, subject: str, number: int, value: dict[str, Any] | None) -> None:
        versions = self.subjects.setdefault(subject, {})
        if value is None:  # a permanent delete
            gone = versions.pop(number, None)
            if gone is not None and not self.usages(gone.id):
                del self.by_id[gone.id]
                if self.ids.get(gone.schema.identity) == gone.id:
                    del self.ids[gone.schema.identity]
            return
        self.max_id = max(self.max_id, int(value["id"]))  # even if the schema is unreadable
        schema = parse(value["schema"])
        version = Version(subject, number, int(value["id"]), schema, bool(value.get("deleted")))
        held, claimed = versions.get(number), self.by_id.get(version.id)
        if (held is not None and held.id != version.id) or (
            claimed is not None and claimed.identity != schema.identity
        ):
            log.warning("ignoring %s: an earlier record took its id or version", version)
            return
        versions[number] = version
        self.by_id[version.id] = schema
        self.ids.setdefault(schema.identity, version.id)

    def usages(self, schema_id: int) -> list[Version]:
        return [
            version
            for versions in self.subjects.values()
            for version in versions.values()
            if version.id == schema_id
        ]

    def live(self, subject: str, deleted: bool = False) -> list[Version]:
        """The subject's versions in order; soft-deleted ones only when `deleted`."""
        versions = self.subjects.get(subject, {})
        return [versions[n] for n in sorted(versions) if deleted or not versions[n].deleted]

    def subject_names(self, deleted: bool = False) -> list[str]:
        return sorted(name for name in self.subjects if self.live(name, deleted))

    def version(self, subject: str, spec: int | str, deleted: bool = False) -> Version:
        versions = self.live(subject, deleted)
        if not versions:
            raise subject_not_found(subject)
        if spec == "latest":
            return versions[-1]
        for version in versions:
            if version.version == spec:
                return version
        raise version_not_found(subject, spec)

    def find(self, subject: str, schema: AvroSchema, deleted: bool = False) -> Version | None:
        for version in reversed(self.live(subject, deleted)):
            if version.schema.identity == schema.identity:
                return version
        return None

    def level(self, subject: str | None) -> Level:
        return self.levels.get(subject) or self.levels.get(None) or Level.BACKWARD
