"""Operator commands on roles, for what nobody can do over HTTP: making the first admin.

    python -m gateway.auth.admin grant <user id> admin
    python -m gateway.auth.admin revoke <user id> moderator --channel <stream id>

They append to the accounts log as "system", with the LIVEFOLD_* settings of the environment.
Later admins are made by an admin over HTTP (POST /api/v1/accounts/{user_id}/roles).

`livefold auth token --user <id>` (`local_token`) prints an access token signed with this
install's key, for scripts and bots during local development; it needs the key file the
gateway made, so it works only where the gateway's data directory is.
"""

from __future__ import annotations

import argparse
import sys

from gateway.auth.account_service import ROLE_NAMES
from livefold import accounts
from livefold.access.local import load_signing_keys, signing_key_path
from livefold.access.tokens import issue_access_token
from livefold.settings import Settings
from streams.codec import Codec, SchemaRegistrationError
from streams.events import SYSTEM_ACTOR
from streams.producer import Ack, AppendError, EventProducer


def change_role(
    settings: Settings, action: str, user_id: str, role: str, channel_id: str | None = None
) -> Ack:
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLE_NAMES)}")
    event_type = accounts.ROLE_GRANTED if action == "grant" else accounts.ROLE_REVOKED
    event = accounts.account_event(
        event_type, user_id, actor_id=SYSTEM_ACTOR, role=role, channel_id=channel_id
    )
    producer = EventProducer(settings, Codec.from_settings(settings))
    try:
        return producer.append(event).result(30)
    finally:
        producer.close()


def local_token(settings: Settings, user_id: str, roles: set[str], ttl_seconds: int = 3600) -> str:
    """An access token for `user_id`, signed with the install's key (local development)."""
    path = signing_key_path(settings)
    if not path.exists():
        raise ValueError(f"no signing key at {path}: start the gateway once (`livefold run`)")
    return issue_access_token(
        load_signing_keys(path),
        user_id=user_id,
        roles=roles,
        issuer=settings.gateway_url,
        audience=settings.auth_audience,
        ttl_seconds=ttl_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.auth.admin", description=__doc__)
    parser.add_argument("action", choices=("grant", "revoke"))
    parser.add_argument("user_id")
    parser.add_argument("role", choices=ROLE_NAMES)
    parser.add_argument("--channel", help="the stream the role is for (default: platform-wide)")
    args = parser.parse_args(argv)
    try:
        ack = change_role(Settings(), args.action, args.user_id, args.role, args.channel)
    except (ValueError, AppendError, SchemaRegistrationError, TimeoutError) as error:
        print(f"{args.action} failed: {error}", file=sys.stderr)
        return 2
    done = "granted" if args.action == "grant" else "revoked"
    print(f"{done} {args.role} for {args.user_id} (accounts log offset {ack.offset})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
