"""The accounts API: register, read/change/delete one's own account, and (admins) grant and
revoke roles and register service clients (a service account for a script or bot). Refusals
are the gateway's JSON errors (gateway/errors.py): {"error", "reason"},
plus "fields": [{"field", "reason"}] when the body was at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.auth.account_service import (
    Conflict,
    InvalidInput,
    Unavailable,
    UnknownAccount,
    profile_fields_from,
    registration_from,
)
from gateway.auth.bearer import Unauthorized
from gateway.auth.directory import Account
from gateway.auth.throttle import Throttled
from gateway.auth.verifier import VerifiedToken
from streams import json_input
from streams.validation import FieldError

if TYPE_CHECKING:
    from gateway.auth.service import AuthService

MAX_JSON_BYTES = 16 * 1024
MAX_USER_ID_CHARS = 200  # what the accounts log takes (an event's key)
ERASED = None  # how an erased personal field reads
SERVICE_CLIENTS = "/api/v1/service-clients"
PROFILES = "/api/v1/profiles"
MAX_PROFILES = 100  # ids per request: a chat screen's authors


def account_view(account: Account) -> dict[str, Any]:
    profile = account.profile
    return {
        "user_id": account.user_id,
        "status": account.status,
        "roles": [{"role": role, "channel_id": channel} for role, channel in account.roles],
        "username": profile.username if profile else ERASED,
        "display_name": profile.display_name if profile else ERASED,
        "email": profile.email if profile else ERASED,
        "created_at": account.created_at,
    }


def public_profile(user_id: str, account: Account | None) -> dict[str, Any]:
    """What anyone may read of an account: the names chat and streams show for a user id
    (null for an unknown, deleted or erased account)."""
    profile = account.profile if account is not None and account.active else None
    return {
        "user_id": user_id,
        "username": profile.username if profile else ERASED,
        "display_name": profile.display_name if profile else ERASED,
    }


def problem(
    status: int,
    error: str,
    reason: str,
    fields: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": error, "reason": reason}
    if fields:
        body["fields"] = [{"field": f.path, "reason": f.reason} for f in fields]
    return JSONResponse(body, status_code=status, headers=headers)


class Refusal(Exception):
    def __init__(self, response: Response):
        self.response = response


async def json_body(request: Request) -> Any:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Refusal(problem(415, "invalid", "send a JSON body (application/json)"))
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_JSON_BYTES:
                raise Refusal(problem(413, "invalid", f"body over {MAX_JSON_BYTES} bytes"))
    except ClientDisconnect:
        raise Refusal(problem(400, "disconnected", "the client left before its body")) from None
    try:
        return json_input.decode(body)
    except json_input.Refused as refused:
        status = 400 if refused.value is None else 422
        reason = f"the body is {refused.reason}"
        raise Refusal(problem(status, "invalid", reason, refused.errors)) from None


def account_routes(service: AuthService) -> list[BaseRoute]:
    accounts, directory = service.accounts, service.directory

    async def caller(request: Request) -> VerifiedToken:
        try:
            return await service.bearer(request)
        except Unauthorized as refusal:
            challenge = refusal.response.headers.get("www-authenticate", "Bearer")
            headers = {"WWW-Authenticate": challenge}
            raise Refusal(problem(401, "unauthorized", refusal.reason, headers=headers)) from None

    async def admin(request: Request) -> VerifiedToken:
        verified = await caller(request)
        # The token says admin; the log must still say so (a token outlives a revocation).
        account = directory.account(verified.principal.user_id)
        still_admin = account is not None and "admin" in account.global_roles()
        if not verified.principal.is_admin or not still_admin:
            raise Refusal(problem(403, "forbidden", "only an admin may change roles"))
        return verified

    async def own_account(verified: VerifiedToken) -> Account:
        account = directory.account(verified.principal.user_id)
        if not verified.local or account is None or not account.active:
            raise Refusal(problem(404, "not_found", "no account here for this identity"))
        return account

    async def handle(request: Request, work: Any) -> Response:
        try:
            result: Response = await work(request)
            return result
        except Refusal as refusal:
            return refusal.response
        except InvalidInput as invalid:
            return problem(422, "invalid", "the request is not valid", invalid.errors)
        except Conflict as conflict:
            return problem(409, "conflict", str(conflict))
        except UnknownAccount as unknown:
            return problem(404, "not_found", str(unknown))
        except Unavailable as unavailable:
            return problem(503, "unavailable", str(unavailable), headers={"Retry-After": "1"})

    async def register(request: Request) -> Response:
        async def work(request: Request) -> Response:
            try:
                service.limits.registration_from(request)
            except Throttled as throttled:
                raise Refusal(throttled.response()) from None
            registration = registration_from(await json_body(request))
            account = await run_in_threadpool(accounts.register, registration)
            return JSONResponse(account_view(account), status_code=201)

        return await handle(request, work)

    async def me(request: Request) -> Response:
        async def work(request: Request) -> Response:
            verified = await caller(request)
            if request.method == "GET":
                account = directory.account(verified.principal.user_id)
                if account is None or not verified.local:
                    held = sorted(verified.principal.roles)
                    roles = [{"role": role, "channel_id": None} for role in held]
                    return JSONResponse({"user_id": verified.principal.user_id, "roles": roles})
                return JSONResponse(account_view(account))
            account = await own_account(verified)
            if request.method == "PATCH":
                body = await json_body(request)
                if not isinstance(body, dict) or not set(body) <= {"display_name", "email"}:
                    reason = "a JSON object with display_name and/or email"
                    raise InvalidInput([FieldError("body", reason)])
                changes = profile_fields_from(body, required=False)
                changed = await run_in_threadpool(accounts.change_profile, account.user_id, changes)
                return JSONResponse(account_view(changed))
            await run_in_threadpool(
                lambda: accounts.delete(account.user_id, actor_id=account.user_id)
            )
            return Response(status_code=204)

        return await handle(request, work)

    async def roles(request: Request) -> Response:
        async def work(request: Request) -> Response:
            verified = await admin(request)
            user_id = request.path_params["user_id"]
            if len(user_id) > MAX_USER_ID_CHARS:
                raise InvalidInput([FieldError("user_id", f"at most {MAX_USER_ID_CHARS} chars")])
            if request.method == "POST":
                body = await json_body(request)
                if not isinstance(body, dict) or not isinstance(body.get("role"), str):
                    raise InvalidInput([FieldError("role", "required, a role name")])
                channel = body.get("channel_id")
                if channel is not None and (not isinstance(channel, str) or not channel):
                    raise InvalidInput([FieldError("channel_id", "a channel id, or null")])
                change = accounts.grant_role
                role = body["role"]
            else:
                change = accounts.revoke_role
                role, channel = request.path_params["role"], request.query_params.get("channel_id")
            actor = verified.principal.user_id
            account = await run_in_threadpool(change, user_id, role, channel, actor)
            return JSONResponse(account_view(account))

        return await handle(request, work)

    async def service_clients(request: Request) -> Response:
        async def work(request: Request) -> Response:
            verified = await admin(request)
            body = await json_body(request)
            if (
                not isinstance(body, dict)
                or set(body) != {"name"}
                or not isinstance(body["name"], str)
            ):
                raise InvalidInput([FieldError("name", "required, the only field, a name")])
            actor = verified.principal.user_id
            account, secret = await run_in_threadpool(
                accounts.register_service_client, body["name"], actor
            )
            answer = {**account_view(account), "client_id": account.user_id}
            return JSONResponse({**answer, "client_secret": secret}, status_code=201)

        return await handle(request, work)

    async def profiles(request: Request) -> Response:
        async def work(request: Request) -> Response:
            wanted = [one for one in request.query_params.get("ids", "").split(",") if one]
            if not wanted or len(wanted) > MAX_PROFILES:
                reason = f"1..{MAX_PROFILES} user ids, comma-separated"
                raise InvalidInput([FieldError("ids", reason)])
            if any(len(one) > MAX_USER_ID_CHARS for one in wanted):
                raise InvalidInput([FieldError("ids", f"at most {MAX_USER_ID_CHARS} chars each")])
            unique = list(dict.fromkeys(wanted))
            items = [public_profile(one, directory.account(one)) for one in unique]
            return JSONResponse({"items": items})

        return await handle(request, work)

    return [
        Route(PROFILES, profiles, methods=["GET"]),
        Route(SERVICE_CLIENTS, service_clients, methods=["POST"]),
        Route("/api/v1/accounts", register, methods=["POST"]),
        Route("/api/v1/accounts/me", me, methods=["GET", "PATCH", "DELETE"]),
        Route("/api/v1/accounts/{user_id}/roles", roles, methods=["POST"]),
        Route("/api/v1/accounts/{user_id}/roles/{role}", roles, methods=["DELETE"]),
    ]
