"""Event backbone benchmarks: codec speed, producer throughput with acks=all and idempotence, and
consume+decode throughput, all against the private stack the runner started."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from confluent_kafka import Consumer

from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import EventReader, consumer_config
from streams.events import Event, new_event
from streams.producer import EventProducer


def chat_messages(count: int, streams: int = 64) -> list[Event]:
    return [
        new_event(
            "livefold.chat.MessageSent",
            stream_id=f"bench-stream-{n % streams}",
            actor_id=f"viewer-{n % 5000}",
            message_id=f"m-{n}",
            text="that dodge was clean, no way he survives the second phase Kappa",
            reply_to=None,
            badges=[],
            emotes=[{"name": "Kappa", "positions": [{"start": 58, "end": 63}]}],
        )
        for n in range(count)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def codec_speed(settings: Settings, count: int = 200_000) -> dict[str, Any]:
    codec = Codec.from_settings(settings)
    events = chat_messages(count)
    codec.encode(events[0])  # registers the schema: not part of the measurement
    started = time.perf_counter()
    encoded = [codec.encode(event) for event in events]
    encode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for data in encoded:
        codec.decode(data)
    decode_seconds = time.perf_counter() - started
    return {
        "events": count,
        "bytes_per_event": statistics.mean(len(data) for data in encoded[:1000]),
        "encode_per_s": round(count / encode_seconds),
        "decode_per_s": round(count / decode_seconds),
        "encode_and_decode_per_s": round(count / (encode_seconds + decode_seconds)),
    }


def produce_throughput(settings: Settings, count: int = 300_000) -> dict[str, Any]:
    """Sustained appends in batches of 10k (`append_all`: acknowledged by the broker, acks=all,
    idempotent), then delivery-report latency of single appends paced at 10k events/s."""
    codec = Codec.from_settings(settings)
    events = chat_messages(count)
    producer = EventProducer(settings, codec)
    producer.append_all(events[:1000])  # connection, producer id, schema id: warm-up
    started = time.perf_counter()
    for first in range(0, count, 10_000):
        producer.append_all(events[first : first + 10_000])
    seconds = time.perf_counter() - started

    latencies: list[float] = []
    begin = time.perf_counter()
    for group, first in enumerate(range(0, 50_000, 100)):  # 100 events every 10 ms
        time.sleep(max(0.0, begin + group * 0.01 - time.perf_counter()))
        for event in events[first : first + 100]:
            sent_at = time.perf_counter()
            future = producer.append(event)
            future.add_done_callback(
                lambda _f, t=sent_at: latencies.append(time.perf_counter() - t)
            )
    producer.close()
    return {
        "events": count,
        "acks": "all",
        "idempotence": True,
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds),
        "delivery_report_latency_ms_at_10k_per_s": {
            "p50": round(percentile(latencies, 0.50) * 1000, 2),
            "p99": round(percentile(latencies, 0.99) * 1000, 2),
        },
    }


def consume_throughput(settings: Settings) -> dict[str, Any]:
    codec = Codec.from_settings(settings)
    deadletter = EventProducer(settings, codec)
    consumer = Consumer(consumer_config(settings, f"bench-{uuid.uuid4()}"))
    consumer.subscribe([event_topic("chat")])
    reader = EventReader(consumer, codec, deadletter)
    count, idle, started = 0, 0, time.perf_counter()
    while idle < 3:
        batch = reader.poll(5000, 1.0)
        if not batch:
            idle += 1
            continue
        idle = 0
        count += len(batch)
    seconds = time.perf_counter() - started - 3.0  # the idle polls that ended the run
    reader.close()
    deadletter.close()
    return {"events": count, "events_per_s": round(count / max(seconds, 1e-9))}


BENCHMARKS = {
    "codec": codec_speed,
    "produce": produce_throughput,
    "consume": consume_throughput,
}
