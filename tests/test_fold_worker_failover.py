"""Two fold workers share the partitions; one is killed (SIGKILL) in the middle of a session and
a third takes its place. Nothing is lost and nothing counted twice: the tables and the state
topics end as the pure folds of the same events say."""

from __future__ import annotations

import time
import uuid
from typing import Any

from agents.folds import source_topics
from agents.inspect import live_states
from bench.sessions import generate
from infra.service import RunningService
from livefold import chat, media, notifications, polls, reactions, tips
from livefold.domains import DOMAINS
from livefold.folding import facts, fold_all
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import read_to_end
from streams.events import Event
from streams.producer import EventProducer
from tests.analytics_support import wait_caught_up
from tests.fold_workers import StateReader, group_settings, relabelled, worker, workers
from tests.servers import log_to

CHUNKS = 12


def mine(states: dict[str, Any], run: str) -> dict[str, Any]:
    return {key: state for key, state in states.items() if key.startswith(run)}


def logged_verdicts(settings: Settings, run: str) -> list[Event]:
    codec = Codec.from_settings(settings)
    deadletter = EventProducer(settings, codec)
    try:
        return [
            record.event
            for record in read_to_end(settings, codec, [event_topic("moderation")], deadletter)
            if record.event.stream_id.startswith(run)
            and record.event.name in ("VerdictIssued", "ContentJudged")
        ]
    finally:
        deadletter.close()


def test_a_worker_killed_mid_stream_loses_and_double_counts_nothing(stack: Settings) -> None:
    settings = group_settings(stack, "failover")
    run = f"f{uuid.uuid4().hex[:6]}"
    events = relabelled(generate(seed=11, streams=4, seconds=60, verdicts=False), run)
    producer = EventProducer(settings, Codec.from_settings(settings))
    third = RunningService(
        worker(settings, 3), log_to(settings.data_dir / "logs")(worker(settings, 3))
    )
    with StateReader(settings, ["polls", "tips", "reactions"]) as states:
        with workers(settings, 2) as (first, _):
            chunk = len(events) // CHUNKS + 1
            for number in range(CHUNKS):
                producer.append_all(events[number * chunk : (number + 1) * chunk])
                if number == 3:
                    assert first.process is not None
                    first.process.kill()  # SIGKILL: no goodbye, no commit
                if number == 7:
                    third.start()
                time.sleep(0.3)
            try:
                wait_caught_up(settings, settings.fold_group, 90.0, source_topics())
                time.sleep(1.0)  # held updates and timers
                live = live_states(settings)
            finally:
                third.stop()
                first.stop()
        producer.close()

        expected = {name: fold_all(domain, events)[0] for name, domain in DOMAINS.items()}
        verdicts = logged_verdicts(settings, run)  # decided by the live moderation
        messages = [e for e in events if e.type == chat.MESSAGE_SENT]
        judged = {v.body["message_id"] for v in verdicts if v.name == "VerdictIssued"}
        assert judged == {m.body["message_id"] for m in messages}
        tip_messages = [e for e in events if e.name == "TipIntentCreated" and e.body["message"]]
        judged = {v.body["subject_id"] for v in verdicts if v.name == "ContentJudged"}
        assert judged == {t.body["tip_id"] for t in tip_messages}
        for domain in (chat, tips, media, notifications):  # the folds that take verdicts
            expected[domain.CHANNEL] = fold_all(domain, events + verdicts)[0]
        for name in DOMAINS:
            held = mine(live[name], run)
            differing = {
                key: (facts(held.get(key) or {}), facts(expected[name].get(key) or {}))
                for key in set(held) | set(expected[name])
                if facts(held.get(key) or {}) != facts(expected[name].get(key) or {})
            }
            assert not differing, f"{name}: live vs pure fold differ: {differing}"

        for key, state in expected[polls.CHANNEL].items():
            published = states.latest(polls.CHANNEL, key)
            assert published is not None, key
            assert published["options"] == polls.view(state)["options"], key
        for key, state in expected[tips.CHANNEL].items():
            assert states.latest(tips.CHANNEL, key) == tips.view(state), key
        for key, state in expected[reactions.CHANNEL].items():
            published = states.latest(reactions.CHANNEL, key)
            assert published is not None and published["totals"] == state["totals"], key
