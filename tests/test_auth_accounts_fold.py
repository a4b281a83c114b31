"""The accounts fold (livefold/accounts.py) on its own: what the log decides about accounts,
roles and sessions, the same on every gateway and on every replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from livefold import accounts
from livefold.folding import Rejected, Update, digest, fold_all
from streams.events import Event, new_event

USER = "user-1"
START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def event(type_: str, seconds: float = 0, **payload: Any) -> Event:
    return new_event(
        f"livefold.accounts.{type_}",
        stream_id=USER,
        actor_id=USER,
        occurred_at=START + timedelta(seconds=seconds),
        user_id=USER,
        **payload,
    )


def created(seconds: float = 0) -> Event:
    return event(
        "AccountCreated",
        seconds,
        key_id="dek-1",
        encrypted_profile=b"\x01sealed-profile",
        encrypted_credentials=b"\x01sealed-hash",
    )


def started(session: str, grant: str, token: str, seconds: float = 1) -> Event:
    return event(
        "SessionStarted",
        seconds,
        session_id=session,
        client_id="livefold-web",
        grant_id=grant,
        token_id=token,
        expires_at=START + timedelta(days=30),
    )


def refreshed(session: str, spent: str, token: str, seconds: float = 2) -> Event:
    return event(
        "SessionRefreshed", seconds, session_id=session, parent_token_id=spent, token_id=token
    )


def state_after(*events: Event) -> tuple[accounts.AccountState, list[Any]]:
    tables, outputs = fold_all(accounts, list(events))
    return tables[USER], outputs


def reasons(outputs: list[Any]) -> list[str]:
    return [output.reason for output in outputs if isinstance(output, Rejected)]


NOW = int((START + timedelta(seconds=10)).timestamp() * 1000)


def test_refresh_tokens_rotate_and_a_spent_one_coming_back_ends_the_session() -> None:
    state, outputs = state_after(
        created(), started("s1", "code-1", "t1"), refreshed("s1", "t1", "t2", 2)
    )
    assert reasons(outputs) == []
    session = accounts.active_session(state, "s1", NOW)
    assert session is not None and session["token_id"] == "t2"

    state, outputs = accounts.fold(state, refreshed("s1", "t1", "t3", 3))  # t1 again: replayed
    assert reasons(outputs) == ["refresh token already spent: replayed, so the session ends"]
    assert accounts.active_session(state, "s1", NOW) is None
    assert accounts.ended_session(state, "s1")
    state, outputs = accounts.fold(state, refreshed("s1", "t2", "t4", 4))  # the owner's, too late
    assert reasons(outputs) == ["session s1 is not active"]


def test_a_code_redeemed_twice_ends_the_first_session_and_refuses_the_second() -> None:
    state, outputs = state_after(
        created(), started("s1", "code-1", "t1"), started("s2", "code-1", "t9", 2)
    )
    assert reasons(outputs) == ["authorization code already used"]
    assert accounts.active_session(state, "s1", NOW) is None
    assert "s2" not in state["sessions"]


def test_a_deleted_account_keeps_its_id_ends_its_sessions_and_takes_no_more_changes() -> None:
    deleted = event("AccountDeleted", 3, key_id="dek-1", reason="user_request")
    state, outputs = state_after(created(), started("s1", "code-1", "t1"), deleted)
    assert state["status"] == "deleted"
    assert accounts.ended_session(state, "s1") and accounts.active_session(state, "s1", NOW) is None
    assert accounts.view(state) == {
        "user_id": USER,
        "status": "deleted",
        "roles": [],
        "created_at": created().occurred_at_ms,
        "deleted_at": deleted.occurred_at_ms,
    }
    _, outputs = accounts.fold(state, created(4))
    assert reasons(outputs) == [f"account {USER} already exists (or existed: ids are not reused)"]
    _, outputs = accounts.fold(state, event("RoleGranted", 5, role="streamer", channel_id=None))
    assert reasons(outputs) == [f"account {USER} is deleted"]


def test_roles_are_held_once_and_revoking_one_not_held_is_refused() -> None:
    grant = {"role": "moderator", "channel_id": "stream-a"}
    state, outputs = state_after(
        event("RoleGranted", 1, **grant),
        event("RoleGranted", 2, **grant),
        event("RoleGranted", 3, role="other", channel_id=None),
    )
    assert state["status"] == "unknown"  # an external identity: roles without an account here
    assert state["roles"] == [grant]
    assert accounts.holds(state, "moderator", "stream-a")
    assert not accounts.holds(state, "moderator", "stream-b")
    assert len([o for o in outputs if isinstance(o, Update)]) == 1
    assert reasons(outputs) == [
        "role 'other' is a placeholder for readers of older code, not a role"
    ]
    _, outputs = accounts.fold(state, event("RoleRevoked", 4, role="admin", channel_id=None))
    assert reasons(outputs) == [f"{USER} does not hold admin there"]


def test_the_same_log_folds_to_the_same_states_and_a_repeated_event_changes_nothing() -> None:
    log = [
        created(),
        started("s1", "code-1", "t1"),
        refreshed("s1", "t1", "t2"),
        event("RoleGranted", 3, role="streamer", channel_id=None),
        event("SessionEnded", 4, session_id="s1", reason="signed_out"),
    ]
    first, _ = fold_all(accounts, log)
    again, outputs = fold_all(accounts, [*log, *log])  # every event delivered twice
    assert outputs == fold_all(accounts, log)[1]
    assert digest({"accounts": first}) == digest({"accounts": again})
    assert first[USER]["sessions"]["s1"]["ended"] == "signed_out"


def test_expired_sessions_and_old_redemptions_are_forgotten() -> None:
    short = event(
        "SessionStarted",
        1,
        session_id="s1",
        client_id="livefold-web",
        grant_id="code-1",
        token_id="t1",
        expires_at=START + timedelta(seconds=60),
    )
    later = event("RoleGranted", 2 * 3600, role="streamer", channel_id=None)
    state, _ = state_after(created(), short, later)
    assert state["sessions"] == {} and state["redeemed_grants"] == {}
