"""The authorization server's part of `/openapi.json` (gateway/openapi.py merges it in): OAuth
2.0 and OpenID Connect endpoints take url-encoded forms and answer RFC 6749's error JSON
(`OAuthError`); the accounts API takes and answers JSON, refusing with the gateway's `Error`."""

from __future__ import annotations

from typing import Any

from gateway.auth.account_service import ROLE_NAMES
from gateway.auth.clients import SCOPES
from gateway.auth.starlette_oauth import FORM_TYPE
from gateway.openapi import Operations, errors, json_content, operation_id, path_parameters
from livefold.access.tokens import ID_TOKEN_ALGORITHMS

OAUTH_ERROR = {"$ref": "#/components/schemas/OAuthError"}
ACCOUNT = {"$ref": "#/components/schemas/Account"}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
STRING = {"type": "string"}
HTML = {"text/html": {"schema": STRING}}

SCHEMAS: dict[str, Any] = {
    "OAuthError": {
        "type": "object",
        "description": "RFC 6749, section 5.2",
        "properties": {"error": STRING, "error_description": STRING},
        "required": ["error"],
    },
    "Account": {
        "type": "object",
        "description": "personal fields are null once erased",
        "properties": {
            "user_id": STRING,
            "status": {"type": "string", "enum": ["unknown", "active", "deleted"]},
            "roles": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"role": STRING, "channel_id": {"type": ["string", "null"]}},
                    "required": ["role", "channel_id"],
                },
            },
            "username": {"type": ["string", "null"]},
            "display_name": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]},
            "created_at": {"type": ["integer", "null"], "description": "epoch milliseconds"},
        },
        "required": ["user_id", "roles"],
    },
}


def query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


PRINTABLE = {"type": "string", "pattern": "^[ -~]*$"}  # RFC 6749's VSCHAR
PKCE_TEXT = {"type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$"}  # RFC 7636, section 4
AUTHORIZATION_REQUEST = [
    query("response_type", "the authorization code flow", {"enum": ["code"]}, True),
    query("client_id", "the registered public client", PRINTABLE, True),
    query("redirect_uri", "a registered one (loopback: any port)", PRINTABLE),
    query("scope", f"of {', '.join(SCOPES)}", PRINTABLE),
    query("state", "returned to the client as it was", PRINTABLE),
    query("nonce", "copied into the ID token", PRINTABLE),
    query("code_challenge", "PKCE: base64url(SHA-256(code_verifier))", PKCE_TEXT, True),
    query("code_challenge_method", "PKCE", {"enum": ["S256"]}, True),
]


def form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {FORM_TYPE: {"schema": schema}}}


def html(description: str) -> dict[str, Any]:
    return {"description": description, "content": HTML}


def oauth_errors(codes: dict[str, str]) -> dict[str, Any]:
    return errors(codes, OAUTH_ERROR)


REDIRECT = {
    "description": "back to the client's redirect_uri with `code` and `state`, or `error`",
    "headers": {"Location": {"schema": STRING}},
}
SLOW_DOWN = "rate limited (error slow_down; see Retry-After)"
UNAVAILABLE = "the accounts log is unavailable: retry (error temporarily_unavailable)"

TOKEN_RESPONSE = {
    "type": "object",
    "properties": {
        "token_type": {"enum": ["Bearer"]},
        "access_token": {"type": "string", "description": "ES256 JWT"},
        "expires_in": {"type": "integer"},
        "scope": STRING,
        "refresh_token": {"type": "string", "description": "single use: each refresh rotates it"},
        "id_token": {
            "type": "string",
            "description": f"with scope openid: a JWT signed {' or '.join(ID_TOKEN_ALGORITHMS)}, "
            "as the client registered",
        },
    },
    "required": ["token_type", "access_token", "expires_in"],
}

OAUTH_OPERATIONS: Operations = {
    "/.well-known/openid-configuration": {
        "get": {
            "summary": "OpenID Connect discovery (also RFC 8414 metadata)",
            "operationId": "get_openid_configuration",
            "responses": {
                "200": {
                    "description": "the provider's metadata",
                    "content": json_content(
                        {
                            "type": "object",
                            "required": [
                                "issuer",
                                "authorization_endpoint",
                                "token_endpoint",
                                "jwks_uri",
                                "id_token_signing_alg_values_supported",
                            ],
                        }
                    ),
                }
            },
        }
    },
    "/oauth/jwks.json": {
        "get": {
            "summary": "The public keys tokens are signed with (ES256 and RS256, by kid)",
            "operationId": "get_oauth_jwks",
            "responses": {
                "200": {
                    "description": "a JWK Set",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
                            "required": ["keys"],
                        }
                    ),
                }
            },
        }
    },
    "/oauth/authorize": {
        "get": {
            "summary": "Authorization endpoint: the sign-in page",
            "operationId": "get_oauth_authorize",
            "parameters": AUTHORIZATION_REQUEST,
            "responses": {
                "200": html("the sign-in form, posting back to this URL"),
                "302": REDIRECT,
                "400": html("no known client or redirect URI: nothing to redirect to"),
            },
        },
        "post": {
            "summary": "Sign in: the form's username and password",
            "operationId": "post_oauth_authorize",
            "parameters": AUTHORIZATION_REQUEST,
            "requestBody": form({"username": STRING, "password": STRING}, []),
            "responses": {
                "302": REDIRECT,
                "400": html("a bad authorization request or form"),
                "401": html("wrong username or password: the form again"),
                **errors({"429": "too many sign-in attempts from here or for this username"}),
                "503": html("sign-in unavailable: try again"),
            },
        },
    },
    "/oauth/token": {
        "post": {
            "summary": "Token endpoint: redeem a code (PKCE), rotate a refresh token, or get a "
            "service client's token (client credentials)",
            "operationId": "post_oauth_token",
            "requestBody": {
                "required": True,
                "content": {
                    FORM_TYPE: {
                        "schema": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "properties": {
                                        "grant_type": {"enum": ["authorization_code"]},
                                        "code": PRINTABLE,
                                        "redirect_uri": PRINTABLE,
                                        "client_id": PRINTABLE,
                                        "code_verifier": PKCE_TEXT,
                                    },
                                    "required": [
                                        "grant_type",
                                        "code",
                                        "client_id",
                                        "code_verifier",
                                    ],
                                },
                                {
                                    "type": "object",
                                    "properties": {
                                        "grant_type": {"enum": ["refresh_token"]},
                                        "refresh_token": PRINTABLE,
                                        "client_id": PRINTABLE,
                                        "scope": PRINTABLE,
                                    },
                                    "required": ["grant_type", "refresh_token", "client_id"],
                                },
                                {
                                    "type": "object",
                                    "description": "a service client: its id and secret here "
                                    "or in HTTP Basic authentication",
                                    "properties": {
                                        "grant_type": {"enum": ["client_credentials"]},
                                        "client_id": PRINTABLE,
                                        "client_secret": PRINTABLE,
                                    },
                                    "required": ["grant_type"],
                                },
                            ]
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "the tokens", "content": json_content(TOKEN_RESPONSE)},
                **oauth_errors(
                    {
                        "400": "invalid_request, invalid_grant (a used, expired or foreign "
                        "code or refresh token), unsupported_grant_type",
                        "401": "invalid_client",
                        "429": SLOW_DOWN,
                        "503": UNAVAILABLE,
                    }
                ),
            },
        }
    },
    "/oauth/revoke": {
        "post": {
            "summary": "Revocation (RFC 7009): ends the token's session",
            "operationId": "post_oauth_revoke",
            "requestBody": form(
                {
                    "token": PRINTABLE,
                    "token_type_hint": {"enum": ["access_token", "refresh_token"]},
                    "client_id": PRINTABLE,
                },
                ["token", "client_id"],
            ),
            "responses": {
                "200": {"description": "revoked, or was no token (RFC 7009, section 2.2)"},
                **oauth_errors(
                    {
                        "400": "invalid_request",
                        "401": "invalid_client",
                        "429": SLOW_DOWN,
                        "503": UNAVAILABLE,
                    }
                ),
            },
        }
    },
    "/oauth/userinfo": {
        method: {
            "summary": "The signed-in user's claims, as the token's scopes allow",
            "operationId": f"{method}_oauth_userinfo",
            "security": BEARER,
            "responses": {
                "200": {
                    "description": "claims",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "sub": STRING,
                                "roles": {"type": "array", "items": STRING},
                                "preferred_username": STRING,
                                "name": STRING,
                                "email": STRING,
                            },
                            "required": ["sub", "roles"],
                        }
                    ),
                },
                **oauth_errors({"401": "no valid token (see WWW-Authenticate), or no profile"}),
            },
        }
        for method in ("get", "post")
    },
}

JSON_BODY_REFUSALS = {
    "400": "the body is not JSON",
    "413": "body too large",
    "415": "not application/json",
    "422": "invalid fields: the fields and reasons",
    "503": "the accounts log or the key store is unavailable: retry",
}
PROFILE_FIELDS = {
    "display_name": {"type": "string", "minLength": 1, "maxLength": 64},
    "email": {"type": "string", "format": "email", "maxLength": 254},
}


def accounts_operation(
    method: str,
    path: str,
    summary: str,
    refusals: dict[str, str],
    *,
    success: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
    queries: tuple[dict[str, Any], ...] = (),
    signed_in: bool = True,
    path_schemas: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    parameters = path_parameters(path)
    for parameter in parameters:
        parameter["schema"] = (path_schemas or {}).get(parameter["name"], parameter["schema"])
    answers = success or {"200": {"description": "the account", "content": json_content(ACCOUNT)}}
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": operation_id(method, path),
        "parameters": [*parameters, *queries],
        "responses": {**answers, **errors(refusals)},
    }
    if signed_in:
        operation["security"] = BEARER
    if body is not None:
        operation["requestBody"] = {"required": True, "content": json_content(body)}
    return operation


USERNAME_PATTERN = "^[a-z0-9][a-z0-9_.-]{2,31}$"
ME = "/api/v1/accounts/me"
ROLES = "/api/v1/accounts/{user_id}/roles"
UNAUTHORIZED = {"401": "not signed in, or the token is refused"}

ACCOUNT_OPERATIONS: Operations = {
    "/api/v1/accounts": {
        "post": accounts_operation(
            "post",
            "/api/v1/accounts",
            "Register an account",
            {
                **JSON_BODY_REFUSALS,
                "409": "the username is taken",
                "429": "too many registrations from here",
            },
            success={"201": {"description": "the new account", "content": json_content(ACCOUNT)}},
            signed_in=False,
            body={
                "type": "object",
                "properties": {
                    "username": {
                        "type": "string",
                        "pattern": USERNAME_PATTERN,
                        "description": "compared in lower case (NFKC)",
                    },
                    "password": {"type": "string", "minLength": 8, "maxLength": 1024},
                    **PROFILE_FIELDS,
                },
                "required": ["username", "password", "display_name", "email"],
                "additionalProperties": False,
            },
        )
    },
    ME: {
        "get": accounts_operation(
            "get",
            ME,
            "The caller's account (an external identity: its id and roles only)",
            UNAUTHORIZED,
        ),
        "patch": accounts_operation(
            "patch",
            ME,
            "Change one's display name or e-mail",
            {
                **JSON_BODY_REFUSALS,
                **UNAUTHORIZED,
                "404": "no local account for this identity",
                "409": "the account's profile is erased",
            },
            body={
                "type": "object",
                "properties": PROFILE_FIELDS,
                "additionalProperties": False,
            },
        ),
        "delete": accounts_operation(
            "delete",
            ME,
            "Delete one's account: its personal data becomes unreadable for good",
            {
                **UNAUTHORIZED,
                "404": "no local account for this identity",
                "409": "already deleted",
                "503": JSON_BODY_REFUSALS["503"],
            },
            success={"204": {"description": "deleted"}},
        ),
    },
    ROLES: {
        "post": accounts_operation(
            "post",
            ROLES,
            "Grant a role (admins), platform-wide or for one channel",
            {**JSON_BODY_REFUSALS, **UNAUTHORIZED, "403": "not an admin", "409": "deleted"},
            body={
                "type": "object",
                "properties": {
                    "role": {"enum": list(ROLE_NAMES)},
                    "channel_id": {"type": ["string", "null"], "minLength": 1},
                },
                "required": ["role"],
            },
        )
    },
    f"{ROLES}/{{role}}": {
        "delete": accounts_operation(
            "delete",
            f"{ROLES}/{{role}}",
            "Revoke a role (admins)",
            {
                **UNAUTHORIZED,
                "403": "not an admin",
                "404": "no account or identity with this user id",
                "422": "no such role, or the user id is too long",
                "503": JSON_BODY_REFUSALS["503"],
            },
            queries=(query("channel_id", "the channel the role was granted for", STRING),),
            path_schemas={"role": {"enum": list(ROLE_NAMES)}},
        )
    },
    "/api/v1/profiles": {
        "get": accounts_operation(
            "get",
            "/api/v1/profiles",
            "Public names of users by id (what chat and streams show); null once erased",
            {"422": "no ids, more than 100, or one too long"},
            success={
                "200": {
                    "description": "one item per distinct id, in the order asked",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "items": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "user_id": STRING,
                                            "username": {"type": ["string", "null"]},
                                            "display_name": {"type": ["string", "null"]},
                                        },
                                        "required": ["user_id", "username", "display_name"],
                                    },
                                }
                            },
                            "required": ["items"],
                        }
                    ),
                }
            },
            queries=(query("ids", "user ids, comma-separated (1..100)", STRING, required=True),),
            signed_in=False,
        )
    },
    "/api/v1/service-clients": {
        "post": accounts_operation(
            "post",
            "/api/v1/service-clients",
            "Register a service client (admins): a service account for a script or bot, which "
            "gets tokens with the client_credentials grant; its secret is shown only here",
            {**JSON_BODY_REFUSALS, **UNAUTHORIZED, "403": "not an admin", "409": "name taken"},
            success={
                "201": {
                    "description": "the service account, its client_id and client_secret",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {"client_id": STRING, "client_secret": STRING},
                            "required": ["client_id", "client_secret"],
                        }
                    ),
                }
            },
            body={
                "type": "object",
                "properties": {"name": {"type": "string", "pattern": USERNAME_PATTERN}},
                "required": ["name"],
                "additionalProperties": False,
            },
        )
    },
}

OPERATIONS: Operations = {**OAUTH_OPERATIONS, **ACCOUNT_OPERATIONS}
