"""Stream keys as the media service folds them from the log (livefold/stream_keys.py): the
newest rotation is the one key that works, a replay admits exactly what the live run did, and a
refusal never contains the key."""

from __future__ import annotations

import pytest

from livefold.stream import CREATED, ENDED, WENT_LIVE
from livefold.stream_keys import (
    STREAM_KEY_ROTATED,
    Directory,
    Finished,
    NotFound,
    WrongKey,
    fingerprint,
    new_key,
    sha256,
)
from streams.events import Event, new_event

STREAMER, OTHER = "streamer-ida", "streamer-jo"


def rotation(user: str, key: str) -> Event:
    return new_event(
        STREAM_KEY_ROTATED, stream_id=user, actor_id=user, key_id="key-1", key_sha256=sha256(key)
    )


def created(stream_id: str, streamer: str) -> Event:
    return new_event(CREATED, stream_id=stream_id, actor_id=streamer, title="Run", category="games")


def folded(events: list[Event]) -> Directory:
    directory = Directory()
    for event in events:
        directory.fold(event)
    return directory


def test_only_the_newest_key_of_the_streams_streamer_is_admitted() -> None:
    (_, first), (_, second), (_, others) = new_key(), new_key(), new_key()
    log = [
        rotation(STREAMER, first),
        created("s1", STREAMER),
        rotation(OTHER, others),
        rotation(STREAMER, second),
    ]
    directory = folded(log)
    assert directory.admit("s1", second).streamer == STREAMER
    for wrong in (first, others, second + "x", ""):
        with pytest.raises(WrongKey) as refused:
            directory.admit("s1", wrong)
        assert not wrong or wrong not in str(refused.value)
    with pytest.raises(WrongKey):
        directory.admit("s1", None)
    with pytest.raises(NotFound):
        directory.admit("s2", second)
    # A replay of the same log admits and refuses exactly the same keys.
    replayed = folded(list(log))
    assert replayed.keys == directory.keys and replayed.admit("s1", second).streamer == STREAMER


def test_an_ended_stream_cannot_be_published_to_again() -> None:
    _, key = new_key()
    directory = folded(
        [
            rotation(STREAMER, key),
            created("s1", STREAMER),
            new_event(WENT_LIVE, stream_id="s1", actor_id=STREAMER, ingest_id=None),
            new_event(ENDED, stream_id="s1", actor_id="system", reason="ingest_lost"),
            new_event(WENT_LIVE, stream_id="s1", actor_id=STREAMER, ingest_id=None),
        ]
    )
    assert directory.streams["s1"].status == "ended"
    with pytest.raises(Finished):
        directory.admit("s1", key)


def test_a_key_alone_names_its_streamers_newest_stream_that_has_not_ended() -> None:
    """RTMP's URL carries only the key: it publishes to the newest open stream of its owner."""
    (_, old), (_, key), (_, others) = new_key(), new_key(), new_key()
    directory = folded(
        [
            rotation(STREAMER, old),
            rotation(OTHER, others),
            created("s1", STREAMER),
            created("s2", STREAMER),
            created("o1", OTHER),
            rotation(STREAMER, key),
            new_event(ENDED, stream_id="s2", actor_id="system", reason="ingest_lost"),
        ]
    )
    stream_id, entry = directory.admit_key(key)
    assert (stream_id, entry.streamer) == ("s1", STREAMER)
    assert directory.admit_key(others)[0] == "o1"
    for wrong in (old, key + "x", ""):
        with pytest.raises(WrongKey) as refused:
            directory.admit_key(wrong)
        assert not wrong or wrong not in str(refused.value)
    directory.fold(new_event(ENDED, stream_id="s1", actor_id="system", reason="ingest_lost"))
    with pytest.raises(NotFound):
        directory.admit_key(key)


def test_keys_are_random_and_only_their_hash_and_a_short_fingerprint_are_kept() -> None:
    key_ids, keys = zip(*(new_key() for _ in range(100)), strict=True)
    assert len(set(keys)) == len(set(key_ids)) == 100
    key = keys[0]
    assert key.startswith("lfsk_") and len(key) > 40
    assert len(sha256(key)) == 64 and key not in sha256(key)
    assert fingerprint(key) == sha256(key)[:12]
