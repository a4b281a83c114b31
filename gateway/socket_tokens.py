"""A socket's token over its life on `/ws`: some seconds before the token's `exp` the socket gets
`{"type": "expiring", "in_ms"}` (EXPIRING_LEAD, or a quarter of what the token had left when it
was presented, whichever is less), and at `exp` (plus `gateway_ws_expired_close_seconds`) it is
closed with 4401 "token expired", unless a fresh token for the same user came first (`{"op":
"auth"}` again, gateway/ws.py), which starts the watch over.

One timer handle per socket, moved by each refresh; nothing scans the sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

EXPIRING_LEAD = 30.0  # seconds


def warning_lead(remaining: float) -> float:
    """How long before `exp` the socket hears that its token is expiring."""
    return min(EXPIRING_LEAD, max(remaining, 0.0) / 4)


class TokenWatch:
    def __init__(
        self,
        on_expiring: Callable[[int], None],
        on_expired: Callable[[], None],
        close_delay: float = 0.0,
    ):
        self.on_expiring = on_expiring  # given the milliseconds left
        self.on_expired = on_expired
        self.close_delay = close_delay
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, expires_at: int | None) -> None:
        """Watch a newly presented token (None: one that never expires)."""
        self.cancel()
        if expires_at is None:
            return
        remaining = expires_at - time.time()
        self._call_in(remaining - warning_lead(remaining), self._expiring, expires_at)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expiring(self, expires_at: int) -> None:
        remaining = expires_at - time.time()
        self.on_expiring(max(int(remaining * 1000), 0))
        self._call_in(remaining + self.close_delay, self._expired)

    def _expired(self) -> None:
        self._timer = None
        self.on_expired()

    def _call_in(self, seconds: float, callback: Callable[..., None], *args: int) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + max(seconds, 0.0), callback, *args)
