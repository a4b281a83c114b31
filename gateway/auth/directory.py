"""The accounts as this gateway process knows them: the `livefold.accounts` fold of every event
on the accounts topic, plus what needs the data keys (the username index, readable profiles).

One per process, fed by `AccountsFollower` from the start of the topic, so every gateway reads
the same log into the same directory. A writer that must see its own event (sign-in right after
registering, a rotated refresh token) waits for the record's offset with `wait_for`.

Personal fields are opened with the user's data key as events are folded; a destroyed key
leaves the account with no readable profile (`profile` is None: erased) and no password. When
the key store cannot be reached the fold does not guess "erased": `apply` raises and the
follower retries the same record.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.auth.usernames import normalized_username, username_key
from livefold import accounts
from livefold.accounts import AccountState, Session
from livefold.data_keys import KeyErased, KeyStore, unseal
from streams.events import Event

log = logging.getLogger(__name__)

PROFILE_FIELDS = ("username", "display_name", "email")


@dataclass(frozen=True)
class Profile:
    username: str
    display_name: str
    email: str

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in PROFILE_FIELDS}


@dataclass(frozen=True)
class Account:
    user_id: str
    status: str  # "unknown" (an identity with roles but no account here) | "active" | "deleted"
    roles: tuple[tuple[str, str | None], ...]  # (role, channel id or None for platform-wide)
    profile: Profile | None  # None: erased (data key destroyed) or never had one
    created_at: int | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def global_roles(self) -> frozenset[str]:
        return frozenset(role for role, channel in self.roles if channel is None)


def profile_context(user_id: str) -> str:
    return f"{user_id}/profile"


def credentials_context(user_id: str) -> str:
    return f"{user_id}/credentials"


class AccountDirectory:
    def __init__(self, keys: KeyStore):
        self.keys = keys
        self._states: dict[str, AccountState] = {}
        self._profiles: dict[str, Profile] = {}
        self._usernames: dict[str, tuple[int, str]] = {}  # _index_keys -> (created at, user)
        self._data_keys: dict[str, bytes] = {}
        self._positions: dict[int, int] = {}  # partition -> next offset to fold
        self._changed = threading.Condition()
        self._listeners: list[Callable[[str], None]] = []

    # ------------------------------------------------------------ folding (follower thread)

    def apply(self, event: Event | None, partition: int, offset: int) -> None:
        """Fold one record (None: undecodable, dead-lettered) and move past it."""
        changed: str | None = None
        with self._changed:
            if event is not None and event.type in accounts.HANDLES:
                changed = accounts.key_of(event)
                state, _ = accounts.fold(self._states.get(changed), event)
                self._refresh_readable(state, event)  # (may raise: then a new account is not kept)
                self._states[changed] = state
            self._positions[partition] = offset + 1
            self._changed.notify_all()
        if changed is not None:
            for listener in self._listeners:
                try:
                    listener(changed)
                except Exception:  # a listener's failure must not stop the accounts fold
                    log.exception("an accounts listener failed on %s", changed)

    def watch(self, listener: Callable[[str], None]) -> None:
        """Call `listener(user_id)`, on the folding thread, after each event folded for that
        user (what open sockets must hear: gateway/ws.py)."""
        self._listeners.append(listener)

    def wait_for(self, partition: int, offset: int, timeout: float = 10.0) -> bool:
        """Block until the record at (partition, offset) is folded; False after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._positions.get(partition, 0) <= offset:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _refresh_readable(self, state: AccountState, event: Event) -> None:
        user_id = state["user_id"]
        if event.type == accounts.ACCOUNT_DELETED and state["status"] == "deleted":
            self._forget(user_id, state)
        elif event.type in (accounts.ACCOUNT_CREATED, accounts.PROFILE_CHANGED):
            self._forget(user_id, state, keep_key=True)
            profile = self._open_profile(state)
            if profile is not None and state["status"] == "active":
                self._profiles[user_id] = profile
                self._index(profile.username, state)

    def _index(self, username: str, state: AccountState) -> None:
        # Two gateways may register one name at once; the earlier account keeps it, on every
        # gateway alike, whatever order the partitions are read in.
        claim = (state["created_at"] or 0, state["user_id"])
        for key in _index_keys(username):
            holder = self._usernames.get(key)
            if holder is None or claim < holder:
                self._usernames[key] = claim

    def _forget(self, user_id: str, state: AccountState, keep_key: bool = False) -> None:
        profile = self._profiles.pop(user_id, None)
        for key in () if profile is None else _index_keys(profile.username):
            if self._usernames.get(key, (0, ""))[1] == user_id:
                del self._usernames[key]
        if not keep_key and state["key_id"] is not None:
            self._data_keys.pop(state["key_id"], None)

    def _open_profile(self, state: AccountState) -> Profile | None:
        context = profile_context(state["user_id"])
        opened = self._open(state["key_id"], state["encrypted_profile"], context)
        if opened is None:
            return None
        try:
            fields = json.loads(opened)
        except ValueError:
            return None
        return Profile(**{name: str(fields.get(name, "")) for name in PROFILE_FIELDS})

    def _open(self, key_id: str | None, encoded: str | None, context: str) -> bytes | None:
        sealed = accounts.ciphertext(encoded)
        if not sealed or key_id is None:
            return None
        try:
            return unseal(self.data_key(key_id), sealed, context)
        except KeyErased:
            return None
        except ValueError:
            # Sealed with another key or tampered with: as unreadable as erased.
            log.warning("a sealed field of %s does not open with its data key", context)
            return None

    # ------------------------------------------------------------ reading (any thread)

    def data_key(self, key_id: str) -> bytes:
        key = self._data_keys.get(key_id)
        if key is None:
            key = self._data_keys[key_id] = self.keys.get(key_id)
        return key

    # The follower changes states in place: readers copy what they need under the same lock.

    def account(self, user_id: str) -> Account | None:
        with self._changed:
            state = self._states.get(user_id)
            if state is None:
                return None
            return Account(
                user_id=user_id,
                status=state["status"],
                roles=tuple((h["role"], h["channel_id"]) for h in state["roles"]),
                profile=self._profiles.get(user_id),
                created_at=state["created_at"],
            )

    def await_account(self, user_id: str, timeout: float) -> Account | None:
        """The account once this process has read it (another gateway may have just made it)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while user_id not in self._states:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)
        return self.account(user_id)

    def key_id(self, user_id: str) -> str | None:
        with self._changed:
            state = self._states.get(user_id)
            return None if state is None else state["key_id"]

    def user_id_of(self, username: str) -> str | None:
        """Whose username this is (exactly, once normalized: what signing in looks up)."""
        with self._changed:
            holder = self._usernames.get(_index_keys(username)[0])
        return None if holder is None else holder[1]

    def holder_of(self, username: str) -> str | None:
        """Who holds this username or one that reads like it (what registering checks)."""
        with self._changed:
            holder = self._usernames.get(_index_keys(username)[1])
        return None if holder is None else holder[1]

    def password_hash(self, user_id: str) -> str | None:
        return self._credential(user_id, "password_hash")

    def client_secret_hash(self, user_id: str) -> str | None:
        """The hashed secret of a service account (None for a person's account)."""
        return self._credential(user_id, "client_secret_hash")

    def _credential(self, user_id: str, name: str) -> str | None:
        with self._changed:
            state = self._states.get(user_id)
            if state is None or state["status"] != "active":
                return None
            key_id, sealed = state["key_id"], state["encrypted_credentials"]
        opened = self._open(key_id, sealed, credentials_context(user_id))
        if opened is None:
            return None
        value = json.loads(opened).get(name)
        return value if isinstance(value, str) else None

    def session(self, user_id: str, session_id: str) -> Session | None:
        now_ms = int(time.time() * 1000)
        with self._changed:
            state = self._states.get(user_id)
            found = None if state is None else accounts.active_session(state, session_id, now_ms)
            return None if found is None else Session(**found)

    def session_ended(self, user_id: str, session_id: str) -> bool:
        with self._changed:
            state = self._states.get(user_id)
            return state is not None and accounts.ended_session(state, session_id)

    def snapshot(self) -> dict[str, Any]:
        """Every account's public view (tests, admin tools)."""
        with self._changed:
            return {user_id: accounts.view(state) for user_id, state in self._states.items()}


def _index_keys(username: str) -> tuple[str, str]:
    """The exact name, and the name as lookalikes share it (gateway.auth.usernames): names
    registered before lookalikes were one name keep signing in by their own."""
    return f"={normalized_username(username)}", f"~{username_key(username)}"
