"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).

Each hash takes tens of milliseconds and 64 MiB: a semaphore bounds how many run at once, so a
burst of sign-ins queues instead of exhausting memory. Callers run these off the event loop.
"""

from __future__ import annotations

import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_running = threading.BoundedSemaphore(2)


def hash_password(password: str) -> str:
    with _running:
        return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Also spends the time of a real check when there is no hash (unknown user, erased account),
    so the answer's timing does not tell which usernames exist."""
    with _running:
        try:
            return _hasher.verify(password_hash or _stand_in_hash(), password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


@cache
def _stand_in_hash() -> str:
    return _hasher.hash("no account has this password")
