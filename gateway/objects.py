"""Objects in S3 as clients reach them: a redirect to a presigned GET URL (the object store
serves the bytes, ranges included, so a player can seek).

The presigned URLs name the S3 endpoint livefold uses (`LIVEFOLD_S3_ENDPOINT`), so clients must
be able to reach it, as they reach the gateway.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from starlette.responses import RedirectResponse, Response

from gateway.runtime import Gateway

LINK_LIFETIME = timedelta(hours=1)


async def presigned(gateway: Gateway, bucket: str, key: str) -> str:
    # The client asks the store for the bucket's region once (a request), then signs locally.
    url: str = await asyncio.to_thread(
        gateway.objects.presigned_get_object, bucket, key, LINK_LIFETIME
    )
    return url


async def object_redirect(gateway: Gateway, bucket: str, key: str) -> Response:
    url = await presigned(gateway, bucket, key)
    # Cached for less time than the link lives, so a cached redirect never leads to a dead link.
    return RedirectResponse(url, 302, headers={"Cache-Control": "private, max-age=600"})
