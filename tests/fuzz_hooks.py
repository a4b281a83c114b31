"""schemathesis hooks for tests/test_gateway_openapi.py: beside each generated request, the
hostile variants an attacker sends and a schema never describes. JSON bodies: every string
with a lone surrogate, every string with NUL, the body nested 5000 arrays deep (raw bytes:
no JSON encoder writes that). OAuth parameters (query and form): a quote and a backslash in
each (authlib raised building an error that echoed them)."""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from hypothesis import strategies as st

DEPTH = 5000
OAUTH_PARAMETERS = ("redirect_uri", "response_type", "scope", "client_id", "grant_type", "token")


def strings_with(body: Any, tail: str) -> Any:
    if isinstance(body, str):
        return body + tail
    if isinstance(body, dict):
        return {key: strings_with(value, tail) for key, value in body.items()}
    if isinstance(body, list):
        return [strings_with(value, tail) for value in body]
    return body


def deeply_nested(body: Any) -> bytes:
    try:
        inside = json.dumps(body)
    except (TypeError, ValueError):  # raw bytes: no JSON spelling
        inside = "null"
    return ("[" * DEPTH + inside + "]" * DEPTH).encode()


def with_quotes(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    variants = []
    for name in OAUTH_PARAMETERS:
        if isinstance(parameters.get(name), str):
            variants.append({**parameters, name: parameters[name] + '"'})
            variants.append({**parameters, name: "\\" + parameters[name]})
    return variants


def is_oauth(context: Any) -> bool:
    operation = getattr(context, "operation", None)
    return operation is not None and str(operation.path).startswith("/oauth/")


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    if is_oauth(context):
        return st.sampled_from([body, *with_quotes(body)] if isinstance(body, dict) else [body])
    hostile = [strings_with(body, "\ud800"), strings_with(body, "\x00"), deeply_nested(body)]
    return st.sampled_from([body, *hostile])


@schemathesis.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    if not is_oauth(context) or not isinstance(query, dict):
        return st.just(query)
    return st.sampled_from([query, *with_quotes(query)])
