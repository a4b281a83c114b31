"""What users write for others to read, sealed with their account's data key on the way into
the log (the codec's `sealer`, `streams.codec.SEALED_FIELDS`) and opened on the way out to
clients (`opened`: frames and reads of the channels that carry such texts).

Only authors with an active account here have a data key; others' texts (identities of an
external provider) go in as they are. Once an account is deleted its key is gone: its texts
read as None wherever they are shown, on every gateway.
"""

from __future__ import annotations

from typing import Any

from gateway.auth.directory import AccountDirectory
from gateway.errors import ApiError, unauthorized
from livefold.data_keys import KeyErased, KeyStoreUnavailable, TextOpener, seal_text

# state channels whose values may hold them (moderation: the review queue, notices, messages)
SEALED_CHANNELS = frozenset({"chat", "moderation", "tips", "media"})


class SealedTexts:
    def __init__(self, directory: AccountDirectory):
        self.directory = directory
        self.opener = TextOpener(directory.data_key)
        directory.watch(self._account_changed)

    def seal(self, author: str, text: str) -> str:
        """Never the text in clear for an author who has a key: without the key store, 503."""
        account = self.directory.account(author)
        key_id = None if account is None or not account.active else self.directory.key_id(author)
        if key_id is None:
            return text
        try:
            return seal_text(key_id, self.directory.data_key(key_id), text)
        except KeyErased:
            raise unauthorized("the account was deleted") from None
        except KeyStoreUnavailable as error:
            reason = f"the data key store did not answer; retry soon ({error})"
            raise ApiError(503, "unavailable", reason, headers={"Retry-After": "1"}) from error

    def opened(self, channel: str, value: dict[str, Any]) -> dict[str, Any]:
        if channel not in SEALED_CHANNELS:
            return value
        shown: dict[str, Any] = self.opener.opened(value)
        return shown

    def _account_changed(self, user_id: str) -> None:
        account = self.directory.account(user_id)
        if account is not None and account.status == "deleted":
            self.opener.forget()
