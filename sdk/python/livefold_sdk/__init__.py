"""livefold's Python SDK: sign in (OAuth 2.0 + PKCE), call the REST API, follow streams live
over WebSockets, and (back-end clients) read the event topics from Kafka.

    from livefold_sdk import AsyncLivefold, OAuth, sign_in

    session = sign_in(OAuth.discover("https://live.example.org"))
    async with AsyncLivefold("https://live.example.org", auth=session) as live:
        await live.send_chat(stream_id, "hello")
        async with live.subscription() as subscription:
            await subscription.subscribe(stream_id, ["chat"])
            await subscription.send_chat(stream_id, "hi")  # over the socket: the hot path
            async for frame in subscription:
                ...

The Kafka consumer is `livefold_sdk.kafka` (the `kafka` extra); typed events are in
`livefold_sdk.events`.
"""

from livefold_sdk.auth import (
    DEFAULT_CLIENT_ID,
    OAuth,
    OAuthEndpoints,
    Pkce,
    Session,
    Tokens,
    challenge_of,
    sign_in,
)
from livefold_sdk.client import AsyncLivefold, Livefold
from livefold_sdk.errors import (
    ApiError,
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidRequest,
    LivefoldError,
    NotFound,
    OAuthError,
    RateLimited,
    SubscriptionClosed,
    TransportError,
    Unauthorized,
    Unavailable,
)
from livefold_sdk.frames import (
    Batch,
    Frame,
    Held,
    Notice,
    Notification,
    Reconnected,
    Refusal,
    Rejected,
    Snapshot,
    Update,
)
from livefold_sdk.loopback import AuthorizationResponse, LoopbackReceiver
from livefold_sdk.subscription import Subscription, TokenProvider
from livefold_sdk.transport import Accepted, Call, RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CLIENT_ID",
    "Accepted",
    "ApiError",
    "AsyncLivefold",
    "AuthorizationResponse",
    "Batch",
    "Call",
    "Conflict",
    "FieldProblem",
    "Forbidden",
    "Frame",
    "Held",
    "InvalidRequest",
    "Livefold",
    "LivefoldError",
    "LoopbackReceiver",
    "NotFound",
    "Notice",
    "Notification",
    "OAuth",
    "OAuthEndpoints",
    "OAuthError",
    "Pkce",
    "RateLimited",
    "Reconnected",
    "Refusal",
    "Rejected",
    "RetryPolicy",
    "Session",
    "Snapshot",
    "Subscription",
    "SubscriptionClosed",
    "TokenProvider",
    "Tokens",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "Update",
    "challenge_of",
    "sign_in",
]
