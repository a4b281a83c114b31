"""The OAuth 2.0 / OpenID Connect endpoints: discovery, keys, authorize (sign-in form), token,
userinfo, revocation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import OAuth2Error
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.auth.account_service import Unavailable
from gateway.auth.backend import TOKEN_PATH
from gateway.auth.bearer import Unauthorized, error_text
from gateway.auth.clients import SCOPES
from gateway.auth.login_page import error_page, login_page
from gateway.auth.starlette_oauth import FormError, oauth2_request, oauth_error, read_form
from gateway.auth.throttle import Throttled
from livefold.access.tokens import ID_TOKEN_ALGORITHMS

if TYPE_CHECKING:
    from gateway.auth.service import AuthService

AUTHORIZE = "/oauth/authorize"


def discovery_document(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}{AUTHORIZE}",
        "token_endpoint": f"{issuer}{TOKEN_PATH}",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "jwks_uri": f"{issuer}/oauth/jwks.json",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGORITHMS),
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "preferred_username",
            "name",
            "email",
            "roles",
        ],
    }


def oauth_routes(service: AuthService) -> list[BaseRoute]:
    issuer = service.settings.gateway_url
    server = service.server
    document = discovery_document(issuer)

    async def openid_configuration(_: Request) -> Response:
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    async def jwks(_: Request) -> Response:
        return JSONResponse(service.keys.public_jwks(), headers={"Cache-Control": "max-age=300"})

    async def authorize(request: Request) -> Response:
        if request.method == "POST":
            try:
                service.limits.sign_in_from(request)
            except Throttled as throttled:
                return throttled.response()
        try:
            oauth_request = await oauth2_request(request, issuer, form=[])
            grant = await run_in_threadpool(server.get_consent_grant, oauth_request)
        except FormError as refused:
            return error_page("Sign-in request refused", str(refused))
        except OAuth2Error as error:
            if error.redirect_uri:  # the client and its redirect URI are known: tell it there
                return server.handle_error_response(None, error)  # type: ignore[no-any-return]
            return error_page("Sign-in request refused", error.get_error_description())
        action = f"{AUTHORIZE}?{request.url.query}"
        if request.method == "GET":
            return login_page(action)
        try:
            fields = dict(await read_form(request))
        except FormError as refusal:
            return login_page(action, problem=str(refusal), status=400)
        username, password = fields.get("username", ""), fields.get("password", "")
        try:
            if username:
                service.limits.sign_in_as(username)
            account = await run_in_threadpool(service.accounts.authenticate, username, password)
        except Throttled as throttled:
            return throttled.response()
        except Unavailable:
            return login_page(action, problem="Sign-in is unavailable; try again.", status=503)
        if account is None:
            problem = "Wrong username or password."
            return login_page(action, problem=problem, username=username, status=401)
        response: Response = await run_in_threadpool(
            server.create_authorization_response, oauth_request, account, grant
        )
        return response

    async def endpoint(request: Request, respond: Callable[[Any], Response]) -> Response:
        """An OAuth endpoint of the form kind (token, revocation): limited per address, its
        errors in the OAuth shape."""
        try:
            service.limits.token_request_from(request)
            oauth_request = await oauth2_request(request, issuer)
            response: Response = await run_in_threadpool(respond, oauth_request)
            return response
        except Throttled as throttled:
            return throttled.oauth_response()
        except FormError as problem:
            return oauth_error(400, "invalid_request", str(problem))
        except OAuth2Error as error:
            return server.handle_error_response(None, error)  # type: ignore[no-any-return]
        except Unavailable as problem:
            return oauth_error(503, "temporarily_unavailable", error_text(str(problem)))

    async def token(request: Request) -> Response:
        return await endpoint(request, server.create_token_response)

    async def revoke(request: Request) -> Response:
        return await endpoint(
            request,
            lambda oauth_request: server.create_endpoint_response("revocation", oauth_request),
        )

    async def userinfo(request: Request) -> Response:
        try:
            verified = await service.bearer(request)
        except Unauthorized as refusal:
            return refusal.response
        account = service.directory.account(verified.principal.user_id)
        if not verified.local or account is None or account.profile is None:
            return oauth_error(401, "invalid_token", "no profile for this token here")
        scopes = str(verified.claims.get("scope", "")).split()
        claims: dict[str, Any] = {"sub": account.user_id, "roles": sorted(verified.principal.roles)}
        if "profile" in scopes:
            claims["preferred_username"] = account.profile.username
            claims["name"] = account.profile.display_name
        if "email" in scopes:
            claims["email"] = account.profile.email
        return JSONResponse(claims, headers={"Cache-Control": "no-store"})

    return [
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/oauth/jwks.json", jwks, methods=["GET"]),
        Route(AUTHORIZE, authorize, methods=["GET", "POST"]),
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route("/oauth/revoke", revoke, methods=["POST"]),
        Route("/oauth/userinfo", userinfo, methods=["GET", "POST"]),
    ]
