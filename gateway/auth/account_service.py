"""Account commands: each checks its input, appends its event to `livefold.accounts.v1`, and
returns once this process has folded it, so the caller reads its own write.

What reaches the log: ids, roles, and personal fields and the password hash sealed with the
user's data key (see `livefold.data_keys`). The key is made before the account is appended and
destroyed before the deletion is: if the append then fails, the account is already unreadable,
and deleting again finishes the job.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.auth.directory import (
    PROFILE_FIELDS,
    Account,
    AccountDirectory,
    Profile,
    credentials_context,
    profile_context,
)
from gateway.auth.follower import FollowerError
from gateway.auth.passwords import hash_password, password_matches
from gateway.auth.usernames import normalized_username, username_problem
from livefold import accounts
from livefold.data_keys import KeyStore, KeyStoreUnavailable, seal
from streams.events import SYSTEM_ACTOR, Event
from streams.producer import AppendError, EventProducer
from streams.validation import EventValidationError, FieldError

ROLE_NAMES = ("viewer", "streamer", "moderator", "editor", "admin")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
APPEND_TIMEOUT = 15.0


class InvalidInput(ValueError):
    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors))


class Conflict(Exception):
    """The request collides with the current state (a taken username, a deleted account)."""


class UnknownAccount(LookupError):
    """No account, nor an identity with roles, has this user id here."""


class Unavailable(Exception):
    """Kafka or the key store did not take the change; nothing may be assumed done."""


@dataclass(frozen=True)
class Registration:
    username: str
    password: str
    display_name: str
    email: str


def registration_from(body: Any) -> Registration:
    if not isinstance(body, dict):
        raise InvalidInput([FieldError("body", "must be a JSON object")])
    errors = _unknown_fields(body, {"username", "password", "display_name", "email"})
    username = normalized_username(_text(body, "username", errors))
    password = _text(body, "password", errors, strip=False)
    fields = profile_fields_from(body, required=True, errors=errors)
    if username and (reason := username_problem(username)) is not None:
        errors.append(FieldError("username", reason))
    if password and not 8 <= len(password) <= 1024:
        errors.append(FieldError("password", "must be 8..1024 characters"))
    elif password and password.lower() == username:
        errors.append(FieldError("password", "must not be the username"))
    if errors:
        raise InvalidInput(errors)
    return Registration(username, password, fields["display_name"], fields["email"])


def profile_fields_from(
    body: dict[str, Any], *, required: bool, errors: list[FieldError] | None = None
) -> dict[str, str]:
    """display_name and email from a request body (those present, unless `required`)."""
    problems = [] if errors is None else errors
    fields: dict[str, str] = {}
    for name in ("display_name", "email"):
        if name in body or required:
            fields[name] = _text(body, name, problems)
    display_name = fields.get("display_name", "")
    if display_name and (len(display_name) > 64 or _has_control(display_name)):
        problems.append(FieldError("display_name", "1..64 printable characters"))
    email = fields.get("email", "")
    if email and (len(email) > 254 or not _EMAIL.match(email)):
        problems.append(FieldError("email", "must be an e-mail address"))
    if errors is None and problems:
        raise InvalidInput(problems)
    return fields


def _text(body: dict[str, Any], name: str, errors: list[FieldError], strip: bool = True) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(name, "required, a non-empty string"))
        return ""
    return value.strip() if strip else value


def _unknown_fields(body: dict[str, Any], known: set[str]) -> list[FieldError]:
    return [FieldError(name, "unknown field") for name in sorted(set(body) - known)]


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in text)


class AccountService:
    def __init__(
        self,
        directory: AccountDirectory,
        keys: KeyStore,
        producer: EventProducer,
        catch_up: Callable[[], None],
    ):
        """`catch_up` returns once the directory holds all the log holds now (every partition)."""
        self.directory = directory
        self.keys = keys
        self.producer = producer
        self.catch_up = catch_up

    # ------------------------------------------------------------ accounts

    def register(self, registration: Registration) -> Account:
        profile = Profile(registration.username, registration.display_name, registration.email)
        credentials = {"password_hash": hash_password(registration.password)}
        return self._create(profile, credentials, actor_id=None)

    def register_service_client(self, name: str, actor_id: str) -> tuple[Account, str]:
        """A service account for a script or bot, and its client secret (shown once: only its
        hash is kept, sealed like a password). Its user id is its OAuth client id; it has no
        password, so nobody signs in as it in a browser."""
        name = normalized_username(name)
        if (reason := username_problem(name)) is not None:
            raise InvalidInput([FieldError("name", reason)])
        secret = secrets.token_urlsafe(32)
        credentials = {"client_secret_hash": hash_password(secret)}
        account = self._create(Profile(name, name, ""), credentials, actor_id=actor_id)
        return account, secret

    def _create(
        self, profile: Profile, credentials: dict[str, str], actor_id: str | None
    ) -> Account:
        if self.directory.holder_of(profile.username) is not None:
            raise Conflict(f"username {profile.username!r} is taken (or one like it)")
        user_id = str(uuid.uuid4())
        key_id, key = self._new_key()
        self._append(
            accounts.account_event(
                accounts.ACCOUNT_CREATED,
                user_id,
                actor_id=actor_id,
                key_id=key_id,
                encrypted_profile=seal(key, _json(profile.as_dict()), profile_context(user_id)),
                encrypted_credentials=seal(key, _json(credentials), credentials_context(user_id)),
            )
        )
        self._catch_up()  # other accounts live on other partitions
        if self.directory.holder_of(profile.username) != user_id:
            # Another gateway registered the name at the same moment, and first.
            self.delete(user_id, actor_id=SYSTEM_ACTOR, reason="other")
            raise Conflict(f"username {profile.username!r} is taken (or one like it)")
        return self._account(user_id)

    def client_secret_hash(self, user_id: str) -> str | None:
        try:
            return self.directory.client_secret_hash(user_id)
        except KeyStoreUnavailable as error:
            raise Unavailable(str(error)) from error

    def change_profile(self, user_id: str, changes: dict[str, str]) -> Account:
        account, key_id = self._active(user_id)
        if account.profile is None:
            raise Conflict("the account's profile is erased")
        merged = {**account.profile.as_dict(), **changes}
        before = account.profile.as_dict()
        changed = sorted(name for name in PROFILE_FIELDS if merged[name] != before[name])
        if changed:
            key = self._key(key_id)
            self._append(
                accounts.account_event(
                    accounts.PROFILE_CHANGED,
                    user_id,
                    key_id=key_id,
                    encrypted_profile=seal(key, _json(merged), profile_context(user_id)),
                    changed_fields=changed,
                )
            )
        return self._account(user_id)

    def delete(self, user_id: str, *, actor_id: str, reason: str = "user_request") -> None:
        _, key_id = self._active(user_id)
        try:
            self.keys.destroy(key_id)
        except KeyStoreUnavailable as error:
            raise Unavailable(str(error)) from error
        self._append(
            accounts.account_event(
                accounts.ACCOUNT_DELETED,
                user_id,
                actor_id=actor_id,
                key_id=key_id,
                reason=reason,
            )
        )

    def authenticate(self, username: str, password: str) -> Account | None:
        name = normalized_username(username)
        user_id = self.directory.user_id_of(name)
        if user_id is None:
            # Registered a moment ago through another gateway, maybe: read the log to now.
            self._catch_up()
            user_id = self.directory.user_id_of(name)
        password_hash = None if user_id is None else self._password_hash(user_id)
        if not password_matches(password_hash, password) or user_id is None:
            return None
        account = self.directory.account(user_id)
        return account if account is not None and account.active else None

    # ------------------------------------------------------------ roles

    def grant_role(self, user_id: str, role: str, channel_id: str | None, actor_id: str) -> Account:
        self._check_role(role)
        account = self.directory.account(user_id)
        if account is not None and account.status == "deleted":
            raise Conflict(f"account {user_id} is deleted")
        if account is None or (role, channel_id) not in account.roles:
            event = accounts.account_event(
                accounts.ROLE_GRANTED, user_id, actor_id=actor_id, role=role, channel_id=channel_id
            )
            self._append(event)
        return self._account(user_id)

    def revoke_role(
        self, user_id: str, role: str, channel_id: str | None, actor_id: str
    ) -> Account:
        self._check_role(role)
        account = self.directory.account(user_id)
        if account is None:
            raise UnknownAccount(f"no account or identity {user_id!r} here")
        if (role, channel_id) in account.roles:
            event = accounts.account_event(
                accounts.ROLE_REVOKED, user_id, actor_id=actor_id, role=role, channel_id=channel_id
            )
            self._append(event)
        return self._account(user_id)

    # ------------------------------------------------------------ sessions

    def start_session(
        self,
        user_id: str,
        *,
        session_id: str,
        client_id: str,
        grant_id: str,
        token_id: str,
        expires_at: int,
    ) -> bool:
        """False when the log saw the code redeemed before: then neither session lives."""
        self._append(
            accounts.account_event(
                accounts.SESSION_STARTED,
                user_id,
                session_id=session_id,
                client_id=client_id,
                grant_id=grant_id,
                token_id=token_id,
                expires_at=expires_at,
            )
        )
        return self._current_token(user_id, session_id) == token_id

    def rotate(self, user_id: str, session_id: str, spent_token_id: str, token_id: str) -> bool:
        """Spend a refresh token for the next one; False if it was spent already (replayed:
        the log saw another exchange of it first, and the session has ended)."""
        self._append(
            accounts.account_event(
                accounts.SESSION_REFRESHED,
                user_id,
                session_id=session_id,
                parent_token_id=spent_token_id,
                token_id=token_id,
            )
        )
        return self._current_token(user_id, session_id) == token_id

    def _current_token(self, user_id: str, session_id: str) -> str | None:
        """The refresh token the log says the session holds now (None: no live session)."""
        session = self.directory.session(user_id, session_id)
        return None if session is None else str(session["token_id"])

    def end_session(self, user_id: str, session_id: str, reason: str) -> None:
        self._append(
            accounts.account_event(
                accounts.SESSION_ENDED,
                user_id,
                session_id=session_id,
                reason=reason,
            )
        )

    # ------------------------------------------------------------ plumbing

    def _append(self, event: Event) -> None:
        try:
            ack = self.producer.append(event).result(APPEND_TIMEOUT)
        except EventValidationError as error:  # e.g. a user id longer than the log takes
            raise InvalidInput(error.errors) from None
        except (AppendError, TimeoutError) as error:
            raise Unavailable(f"the accounts log did not take the change: {error}") from error
        if not self.directory.wait_for(ack.partition, ack.offset, APPEND_TIMEOUT):
            raise Unavailable("the change is in the log but not yet visible here; retry shortly")

    def _catch_up(self) -> None:
        try:
            self.catch_up()
        except FollowerError as error:
            raise Unavailable(f"cannot read the accounts log to its end: {error}") from error

    def _active(self, user_id: str) -> tuple[Account, str]:
        state = self.directory.account(user_id)
        key_id = self.directory.key_id(user_id)
        if state is None or not state.active or key_id is None:
            raise Conflict(f"no active account {user_id}")
        return state, key_id

    def _account(self, user_id: str) -> Account:
        account = self.directory.account(user_id)
        assert account is not None, "an appended and folded account exists"
        return account

    def _new_key(self) -> tuple[str, bytes]:
        try:
            return self.keys.create()
        except KeyStoreUnavailable as error:
            raise Unavailable(str(error)) from error

    def _key(self, key_id: str) -> bytes:
        try:
            return self.directory.data_key(key_id)
        except KeyStoreUnavailable as error:
            raise Unavailable(str(error)) from error

    def _password_hash(self, user_id: str) -> str | None:
        try:
            return self.directory.password_hash(user_id)
        except KeyStoreUnavailable as error:
            raise Unavailable(str(error)) from error

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLE_NAMES:
            raise InvalidInput([FieldError("role", f"one of {', '.join(ROLE_NAMES)}")])


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
