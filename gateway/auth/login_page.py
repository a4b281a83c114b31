"""The sign-in page of the authorization endpoint: a username and password form that posts back
to the same URL (its query is the authorization request). No consent step: the one client is
livefold's own."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

# The page may not be framed (clickjacking of the password form) and runs no script.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to livefold</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 22rem; margin: 4rem auto; }}
label {{ display: block; margin-top: 1rem; }}
input {{ width: 100%; padding: .5rem; box-sizing: border-box; }}
button {{ margin-top: 1.5rem; padding: .5rem 1.5rem; }}
.problem {{ color: #a00; }}
</style>
</head>
<body>
<h1>Sign in</h1>
{problem}
<form method="post" action="{action}">
<label>Username <input name="username" autocomplete="username" required value="{username}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required>
</label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
"""


def login_page(
    action: str, *, problem: str = "", username: str = "", status: int = 200
) -> HTMLResponse:
    body = _PAGE.format(
        action=escape(action, quote=True),
        username=escape(username, quote=True),
        problem=f'<p class="problem" role="alert">{escape(problem)}</p>' if problem else "",
    )
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def error_page(title: str, detail: str, status: int = 400) -> HTMLResponse:
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
        f"<p>{escape(detail)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=HEADERS)
