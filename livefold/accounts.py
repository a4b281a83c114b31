"""Accounts: one state per user id, folded from `livefold.accounts.v1`; the store livefold's
authorization server reads.

The fold never decrypts. Personal fields and the password hash stay the ciphertext the log
carries (base64 in the state), so folding needs no key and replays the same whether a user's
data key still exists or was destroyed with the account; reading them is the reader's business
(`gateway/auth/directory.py`) and fails for good once the key is gone (crypto-shredding).

A user id may hold roles before it has an account here: an identity from an external OpenID
Connect provider has none, yet an admin may grant it a role.

Sessions make sign-ins honoured by every gateway: a session is started by redeeming an
authorization code (`grant_id`) and carries the id of its one current refresh token. Every
exchange is a `SessionRefreshed` naming the token it spends; the log orders a user's events, so
when two exchanges spend the same token, the second finds it no longer current, and the
session ends (a refresh token was replayed: whoever holds the family must sign in again). A
code redeemed twice likewise ends the session the first redemption started.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, TypedDict

from livefold.folding import Output, Refused, Rejected, Update, apply
from streams.events import Event, new_event

CHANNEL = "accounts"
ACCOUNT_CREATED = "livefold.accounts.AccountCreated"
PROFILE_CHANGED = "livefold.accounts.ProfileChanged"
ROLE_GRANTED = "livefold.accounts.RoleGranted"
ROLE_REVOKED = "livefold.accounts.RoleRevoked"
ACCOUNT_DELETED = "livefold.accounts.AccountDeleted"
SESSION_STARTED = "livefold.accounts.SessionStarted"
SESSION_REFRESHED = "livefold.accounts.SessionRefreshed"
SESSION_ENDED = "livefold.accounts.SessionEnded"
HANDLES = frozenset(
    {
        ACCOUNT_CREATED,
        PROFILE_CHANGED,
        ROLE_GRANTED,
        ROLE_REVOKED,
        ACCOUNT_DELETED,
        SESSION_STARTED,
        SESSION_REFRESHED,
        SESSION_ENDED,
    }
)
FLUSH_EVERY: float | None = None

# Authorization codes live a minute; a redeemed code is remembered well past that, so a second
# redemption is always recognised, and then forgotten so the state does not grow.
GRANT_MEMORY_MS = 3_600_000


class RoleHolding(TypedDict):
    role: str
    channel_id: str | None  # None: platform-wide


class Session(TypedDict):
    client_id: str
    token_id: str  # the one refresh token of this session that may be exchanged
    expires_at: int
    grant_id: str
    # Why it ended, None while active. An ended session is kept until it expires, so a gateway
    # can tell "ended" (refuse its access tokens) from "not seen yet" (it may be lagging).
    ended: str | None


class Redemption(TypedDict):
    session_id: str
    at: int


class AccountState(TypedDict):
    user_id: str
    status: str  # "unknown" (roles only, no account here) | "active" | "deleted"
    key_id: str | None
    encrypted_profile: str | None  # base64 of the log's ciphertext
    encrypted_credentials: str | None
    roles: list[RoleHolding]
    created_at: int | None
    deleted_at: int | None
    deletion_reason: str | None
    sessions: dict[str, Session]
    redeemed_grants: dict[str, Redemption]
    _seen: dict[str, None]


def account_event(event_type: str, user_id: str, actor_id: str | None = None, **body: Any) -> Event:
    """An event of the accounts log: keyed by the account (its stream is the user), done by the
    account itself unless `actor_id` says who."""
    return new_event(
        event_type, stream_id=user_id, actor_id=actor_id or user_id, user_id=user_id, **body
    )


def key_of(event: Event) -> str:
    return str(event.body.get("user_id", ""))


def fold(state: AccountState | None, event: Event) -> tuple[AccountState, list[Output]]:
    if state is None:
        state = AccountState(
            user_id=key_of(event),
            status="unknown",
            key_id=None,
            encrypted_profile=None,
            encrypted_credentials=None,
            roles=[],
            created_at=None,
            deleted_at=None,
            deletion_reason=None,
            sessions={},
            redeemed_grants={},
            _seen={},
        )
    _forget_expired(state, event.occurred_at_ms)
    return state, apply(state, event, _HANDLERS, CHANNEL, state["user_id"])


def flush(state: AccountState, now: datetime) -> tuple[AccountState, list[Output]]:
    return state, []


def view(state: AccountState) -> dict[str, Any]:
    """What anyone may see of an account: no personal field, not even encrypted."""
    return {
        "user_id": state["user_id"],
        "status": state["status"],
        "roles": [dict(holding) for holding in state["roles"]],
        "created_at": state["created_at"],
        "deleted_at": state["deleted_at"],
    }


def holds(state: AccountState, role: str, channel_id: str | None = None) -> bool:
    return RoleHolding(role=role, channel_id=channel_id) in state["roles"]


def active_session(state: AccountState, session_id: str, now_ms: int) -> Session | None:
    session = state["sessions"].get(session_id)
    if session is None or session["ended"] is not None or session["expires_at"] <= now_ms:
        return None
    return session if state["status"] == "active" else None


def ended_session(state: AccountState, session_id: str) -> bool:
    """True once the session is known to have ended (not merely unknown here)."""
    session = state["sessions"].get(session_id)
    return state["status"] == "deleted" or (session is not None and session["ended"] is not None)


def ciphertext(encoded: str | None) -> bytes | None:
    return None if encoded is None else base64.b64decode(encoded)


def _encoded(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data else None


def _forget_expired(state: AccountState, now_ms: int) -> None:
    sessions = state["sessions"]
    for session_id in [s for s, session in sessions.items() if session["expires_at"] <= now_ms]:
        del sessions[session_id]
    grants = state["redeemed_grants"]
    for grant_id in [g for g, r in grants.items() if r["at"] <= now_ms - GRANT_MEMORY_MS]:
        del grants[grant_id]


def _updated(state: AccountState) -> list[Output]:
    return [Update(CHANNEL, state["user_id"], view(state))]


def _require_active(state: AccountState) -> None:
    if state["status"] != "active":
        raise Refused(f"account {state['user_id']} is {state['status']}, not active")


def _on_created(state: AccountState, event: Event) -> list[Output]:
    if state["status"] != "unknown":
        raise Refused(f"account {state['user_id']} already exists (or existed: ids are not reused)")
    body = event.body
    if not body["key_id"] or not body["encrypted_profile"]:
        raise Refused("an account needs a data key id and an encrypted profile")
    state["status"] = "active"
    state["key_id"] = str(body["key_id"])
    state["encrypted_profile"] = _encoded(body["encrypted_profile"])
    state["encrypted_credentials"] = _encoded(body.get("encrypted_credentials") or b"")
    state["created_at"] = event.occurred_at_ms
    return _updated(state)


def _on_profile_changed(state: AccountState, event: Event) -> list[Output]:
    _require_active(state)
    if event.body["key_id"] != state["key_id"]:
        raise Refused(f"profile encrypted with key {event.body['key_id']}, not the account's")
    state["encrypted_profile"] = _encoded(event.body["encrypted_profile"])
    return []


def _holding(event: Event) -> RoleHolding:
    role = str(event.body["role"])
    if role == "other":
        raise Refused("role 'other' is a placeholder for readers of older code, not a role")
    channel = event.body.get("channel_id")
    return RoleHolding(role=role, channel_id=None if channel is None else str(channel))


def _on_role_granted(state: AccountState, event: Event) -> list[Output]:
    holding = _holding(event)
    if state["status"] == "deleted":
        raise Refused(f"account {state['user_id']} is deleted")
    if holding in state["roles"]:
        return []
    state["roles"].append(holding)
    state["roles"].sort(key=lambda h: (h["role"], h["channel_id"] or ""))
    return _updated(state)


def _on_role_revoked(state: AccountState, event: Event) -> list[Output]:
    holding = _holding(event)
    if holding not in state["roles"]:
        raise Refused(f"{state['user_id']} does not hold {holding['role']} there")
    state["roles"].remove(holding)
    return _updated(state)


def _on_deleted(state: AccountState, event: Event) -> list[Output]:
    _require_active(state)
    if event.body["key_id"] != state["key_id"]:
        raise Refused(f"deletion names key {event.body['key_id']}, not the account's")
    state["status"] = "deleted"
    state["deleted_at"] = event.occurred_at_ms
    state["deletion_reason"] = str(event.body.get("reason", "other"))
    for session in state["sessions"].values():
        session["ended"] = session["ended"] or "account_deleted"
    return _updated(state)


def _on_session_started(state: AccountState, event: Event) -> list[Output]:
    _require_active(state)
    body = event.body
    session_id, grant_id = str(body["session_id"]), str(body["grant_id"])
    earlier = state["redeemed_grants"].get(grant_id)
    if earlier is not None:
        # RFC 6749 4.1.2: a code used twice leaked; revoke what it already gave.
        first = state["sessions"].get(earlier["session_id"])
        if first is not None:
            first["ended"] = first["ended"] or "code_reuse"
        return [Rejected(CHANNEL, state["user_id"], event, "authorization code already used")]
    if session_id in state["sessions"]:
        raise Refused(f"session {session_id} already exists")
    state["redeemed_grants"][grant_id] = Redemption(session_id=session_id, at=event.occurred_at_ms)
    state["sessions"][session_id] = Session(
        client_id=str(body["client_id"]),
        token_id=str(body["token_id"]),
        expires_at=int(body["expires_at"]),
        grant_id=grant_id,
        ended=None,
    )
    return []


def _on_session_refreshed(state: AccountState, event: Event) -> list[Output]:
    session_id = str(event.body["session_id"])
    session = state["sessions"].get(session_id)
    if session is None or session["ended"] is not None:
        raise Refused(f"session {session_id} is not active")
    if session["token_id"] != event.body["parent_token_id"]:
        session["ended"] = "token_reuse"
        reason = "refresh token already spent: replayed, so the session ends"
        return [Rejected(CHANNEL, state["user_id"], event, reason)]
    session["token_id"] = str(event.body["token_id"])
    return []


def _on_session_ended(state: AccountState, event: Event) -> list[Output]:
    session = state["sessions"].get(str(event.body["session_id"]))
    if session is not None and session["ended"] is None:
        session["ended"] = str(event.body.get("reason", "other"))
    return []


_HANDLERS = {
    ACCOUNT_CREATED: _on_created,
    PROFILE_CHANGED: _on_profile_changed,
    ROLE_GRANTED: _on_role_granted,
    ROLE_REVOKED: _on_role_revoked,
    ACCOUNT_DELETED: _on_deleted,
    SESSION_STARTED: _on_session_started,
    SESSION_REFRESHED: _on_session_refreshed,
    SESSION_ENDED: _on_session_ended,
}
