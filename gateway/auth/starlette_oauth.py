"""authlib's OAuth 2.0 server on Starlette: the request and response glue that authlib's own
integrations provide for Flask and Django, and not for Starlette's server side.

authlib is synchronous. Read the form here (async), build an `OAuth2Request` from it, then run
the server's methods in a worker thread: they append to Kafka and wait for the record.

The request's URI is the public one (`settings.gateway_url` plus the path), not the address
the process listens on, so authlib's HTTPS check and the issuer agree with what clients see.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 64
FORM_TYPE = "application/x-www-form-urlencoded"

Pairs = list[tuple[str, str]]

# The parameters RFC 6749 (Appendix A), RFC 7636 and RFC 7009 define are printable ASCII
# (VSCHAR); authlib echoes some in its error descriptions, and raises (a 500) on a character
# an error description may not hold: anything else, and '"' or '\' (RFC 6749, 4.1.2.1).
# Only `state` and `nonce` are the client's opaque values, returned but never described.
OPAQUE_PARAMETERS = frozenset({"state", "nonce"})
OAUTH_PARAMETERS = frozenset(
    {
        "response_type",
        "grant_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code",
        "code_verifier",
        "code_challenge",
        "code_challenge_method",
        "refresh_token",
        "token",
        "token_type_hint",
    }
)


class FormError(ValueError):
    """The body is not a form authlib can read; the message says why."""


class StarlettePayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: Pairs):
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in pairs:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: Headers, query: Pairs, form: Pairs):
        super().__init__(method, uri, headers=headers)
        # Parameters may come in the query (authorization endpoint) or the form (token
        # endpoint); authlib reads both through `payload`, query first, as Flask's `values`.
        self.payload = StarlettePayload(query + form)
        self._args = dict(query)
        self._form = dict(form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def read_form(request: Request) -> Pairs:
    """The url-encoded body's fields; FormError for another type, an oversized or garbled body."""
    body = await _bounded_body(request)
    if not body:
        return []
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise FormError(f"send the parameters as {FORM_TYPE}, not {media_type or 'no type'}")
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except UnicodeDecodeError as error:
        raise FormError("the form is not UTF-8") from error
    except ValueError as error:
        raise FormError(f"more than {MAX_FORM_FIELDS} form fields") from error


def check_parameters(pairs: Pairs) -> None:
    """FormError for an OAuth parameter with a character outside printable ASCII, or with a
    quote or backslash where an error description could echo it."""
    for name, value in pairs:
        if name not in OAUTH_PARAMETERS:
            continue
        if not all(" " <= char <= "~" for char in value):
            raise FormError(f"{name} must be printable ASCII (RFC 6749, appendix A)")
        if name not in OPAQUE_PARAMETERS and ('"' in value or "\\" in value):
            raise FormError(f"{name} must not hold a quote or a backslash")


async def oauth2_request(
    request: Request, public_url: str, form: Pairs | None = None, *, checked: bool = True
) -> StarletteOAuth2Request:
    """The OAuth2Request authlib works on; `form` defaults to the request's own body.
    `checked`: FormError for OAuth parameters authlib cannot handle (`check_parameters`)."""
    fields = await read_form(request) if form is None else form
    if checked:
        check_parameters(request.query_params.multi_items() + fields)
    query = request.url.query
    uri = f"{public_url.rstrip('/')}{request.url.path}" + (f"?{query}" if query else "")
    return StarletteOAuth2Request(
        request.method, uri, request.headers, request.query_params.multi_items(), fields
    )


def to_response(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    """authlib's (status, body, headers) as a Starlette response: JSON for a dict body."""
    if isinstance(body, dict):
        return JSONResponse(body, status_code=status, headers=dict(headers))
    return Response(body or b"", status_code=status, headers=dict(headers))


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    """An error body as RFC 6749 section 5.2 shapes it."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormError(f"the body exceeds {MAX_FORM_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise FormError(f"the body exceeds {MAX_FORM_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
