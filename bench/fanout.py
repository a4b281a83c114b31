"""`gateway_fanout`: chat end to end, from a `send` frame to every subscribed socket.

Rows of (subscribers, messages/s, seconds); in each row livefold (gateway -> Kafka ->
moderation and chat folds -> state topic -> gateway -> sockets) and its peers, one after the
other with the same load generator (`bench.loadgen`): `websockets.broadcast` batching every
50 ms with nothing in front of it, and Centrifugo (Go), both from `bench.peers`.

Each row says what the server used (CPU µs per message delivered to a socket; for livefold also
the fold workers' and Kafka's cores), what the load generator used, how busy the machine was and
its load average: the machine has 2 cores shared with other work, so compare systems within a
run. `machine_bound` marks a row during which the machine had no idle CPU left.

For livefold, `stages` says where the time went, per message one socket saw, from Kafka's
timestamps of the chat record (the gateway's append), the verdict and the notice (the fold
worker's sends), and from the gateway's own histograms (`gateway.metrics`).

`LIVEFOLD_BENCH_FANOUT_ROWS=1000x100x20,1000x1000x60` and
`LIVEFOLD_BENCH_FANOUT_SYSTEMS=livefold,broadcast` choose a subset.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from agents.driver import partition_of
from agents.inspect import read_raw
from agents.timings import TIMINGS_MARK
from bench import gateway as common
from bench import peers
from bench.loadgen import Subscribers, Target, run_publisher, sampled_count
from bench.wsload import masked_text, percentile, publish, publish_over_sockets
from infra.errors import InfraError
from infra.service import RunningService, free_port
from livefold.settings import Settings
from streams.catalog import catalog, state_topic
from streams.codec import Codec
from streams.state import from_record

ROWS = ((1_000, 100.0, 20.0), (1_000, 1_000.0, 60.0), (10_000, 100.0, 20.0))
SYSTEMS = ("livefold", "broadcast", "centrifugo")
PUBLISHER_SOCKETS = 4
DRAIN_SECONDS = 5.0  # after the last send, what has not arrived by then counts as missing
WINDOW_SECONDS = 10.0  # latency per window of send time: a growing backlog shows as growth
BUSY = 0.9  # machine CPU share above which a row is machine-bound
GATEWAY_HISTOGRAMS = {
    "keyed_write_log_check": "livefold_gateway_resend_check_seconds",
    "gateway_append_to_ack": "livefold_gateway_kafka_produce_seconds",
    "state_record_to_gateway_loop": "livefold_gateway_state_lag_seconds",
    "hub_hold": "livefold_gateway_ws_hold_seconds",
    "hub_write_all_sockets": "livefold_gateway_ws_broadcast_seconds",
}

Publish = Callable[[float, float], Callable[[], Coroutine[Any, Any, dict[str, Any]]]]


@dataclass
class System:
    key: str  # as LIVEFOLD_BENCH_FANOUT_SYSTEMS names it
    name: str
    target: Target
    publish: Publish  # (rate, seconds) -> the publisher's work, picklable
    servers: dict[str, int]  # process name -> pid; the first is the fan-out server
    stream_id: str = ""  # livefold's bench stream


def fanout(settings: Settings) -> dict[str, Any]:
    own = common.bench_settings(settings)
    rows = _rows()
    chosen = os.environ.get("LIVEFOLD_BENCH_FANOUT_SYSTEMS", ",".join(SYSTEMS)).split(",")
    results: list[dict[str, Any]] = []
    with common.running_folds(own) as folds, common.running_gateway(own) as (gateway, url):
        livefold = _livefold(own, url, gateway, folds)
        systems: list[System | str] = [livefold]
        handles: list[RunningService] = []
        try:
            for name in ("broadcast", "centrifugo"):
                if name in chosen:
                    systems.append(_start_peer(own, name, handles))
            run_publisher(livefold.publish(200.0, 3.0))  # warm-up, not measured
            for count, rate, seconds in rows:
                for system in systems:
                    if isinstance(system, str):
                        results.append({"system": "centrifugo", "error": system})
                    elif system.key in chosen:
                        results.append(_measure(own, system, url, count, rate, seconds))
                        print(json.dumps(results[-1]), flush=True)
        finally:
            for handle in reversed(handles):
                handle.stop()
    return {
        "note": "2 shared cores, other work running: compare systems within this run",
        "rows": results,
    }


def _rows() -> list[tuple[int, float, float]]:
    text = os.environ.get("LIVEFOLD_BENCH_FANOUT_ROWS")
    if not text:
        return list(ROWS)
    rows = []
    for row in text.split(","):
        count, rate, seconds = row.split("x")
        rows.append((int(count), float(rate), float(seconds)))
    return rows


def _livefold(
    settings: Settings, url: str, gateway: RunningService, folds: list[RunningService]
) -> System:
    base = f"{url}/api/v1"
    streamer = common.access_token(settings, "bench-streamer", {"streamer"})
    stream_id = common.bench_stream(base, streamer)
    ws = url.replace("http", "ws", 1) + "/ws"
    urls = [
        f"{ws}?access_token={common.access_token(settings, f'bench-writer-{n}', {'viewer'})}"
        for n in range(PUBLISHER_SOCKETS)
    ]
    subscribe = masked_text({"op": "subscribe", "stream": stream_id, "channels": ["chat"]})
    assert gateway.process is not None
    servers = {"gateway": gateway.process.pid}
    for fold in folds:
        assert fold.process is not None
        servers[fold.service.name] = fold.process.pid
    kafka = _kafka_pid(settings)
    if kafka is not None:
        servers["kafka"] = kafka
    return System(
        "livefold",
        "livefold",
        Target(settings.host, settings.gateway_port, "/ws", [subscribe]),
        lambda rate, seconds: functools.partial(
            publish_over_sockets, urls, stream_id, rate, seconds
        ),
        servers,
        stream_id,
    )


def _start_peer(settings: Settings, name: str, handles: list[RunningService]) -> System | str:
    port = free_port()
    logs = settings.data_dir / "logs"
    try:
        spec = (
            peers.broadcast_peer(settings, port)
            if name == "broadcast"
            else peers.centrifugo_peer(settings, port)
        )
    except InfraError as error:
        return f"not run: {error}"
    handle = RunningService(spec, (logs / f"{spec.name}.log").open("ab"))
    handle.start()
    handles.append(handle)
    assert handle.process is not None
    if name == "broadcast":
        subscribe = masked_text({"op": "subscribe"})
        urls = [f"ws://127.0.0.1:{port}/"] * PUBLISHER_SOCKETS
        return System(
            "broadcast",
            "websockets.broadcast (50 ms batches, no Kafka)",
            Target("127.0.0.1", port, "/", [subscribe]),
            lambda rate, seconds: functools.partial(
                publish_over_sockets, urls, "chat", rate, seconds
            ),
            {"server": handle.process.pid},
        )
    headers = [{"X-API-Key": peers.CENTRIFUGO_KEY}]
    return System(
        "centrifugo",
        f"centrifugo {peers.CENTRIFUGO_VERSION} (HTTP publish)",
        Target("127.0.0.1", port, "/connection/websocket", peers.centrifugo_hello()),
        lambda rate, seconds: functools.partial(
            publish,
            "127.0.0.1",
            port,
            "/api/publish",
            headers,
            peers.centrifugo_publish,
            rate,
            seconds,
            8,
        ),
        {"server": handle.process.pid},
    )


def _measure(
    settings: Settings, system: System, url: str, count: int, rate: float, seconds: float
) -> dict[str, Any]:
    sampled = sampled_count(count, rate)
    livefold = system.key == "livefold"
    with Subscribers(system.target, count, sampled) as pool:
        time.sleep(1.0)
        since = time.time() + 0.5
        pool.start(since)
        time.sleep(0.6)
        histograms = _scrape(settings, url) if livefold else ""
        logs = _worker_logs(settings, system)
        cpu = {name: sum(common.cpu_split(pid)) for name, pid in system.servers.items()}
        machine, started = _machine_cpu(), time.monotonic()
        sent = run_publisher(system.publish(rate, seconds))
        missing = pool.drained(sent["accepted"] * pool.sampled, DRAIN_SECONDS)
        elapsed = time.monotonic() - started
        busy = _busy_share(machine, _machine_cpu())
        cpu = {name: sum(common.cpu_split(pid)) - cpu[name] for name, pid in system.servers.items()}
        load = os.getloadavg()[0]
        gateway_stages = _histogram_stages(histograms, _scrape(settings, url)) if livefold else {}
        time.sleep(10.5 if livefold else 0)  # the workers log their timings every 10 s
        worker_stages = _worker_stages(logs)
        seen = pool.stop()
    latencies = list(seen.pairs[1::2])
    sends = list(seen.pairs[0::2])
    deliveries = max(1.0, sent["accepted"] * count * (1 - missing))
    server, server_cpu = next(iter(cpu.items()))
    loadgen_cpu = seen.cpu_seconds + sent["publisher_cpu_seconds"]
    row: dict[str, Any] = {
        "system": system.name,
        "subscribers": count,
        "messages_per_s": rate,
        "seconds": seconds,
        "messages_accepted": sent["accepted"],
        "messages_refused": sent["refused"],
        "publish_seconds": sent["seconds"],
        "sampled_sockets": seen.sampled,
        "latency_p50_ms": _ms(percentile(latencies, 0.50)),
        "latency_p99_ms": _ms(percentile(latencies, 0.99)),
        "latency_max_ms": _ms(max(latencies, default=float("nan"))),
        "latency_p99_ms_by_window": _by_window(sends, latencies, since),
        "missing_share_after_drain": round(missing, 4),
        "frames_per_s": round(seen.frames / elapsed),
        "deliveries_per_s": round(deliveries / elapsed),
        "server_cpu_us_per_delivery": round(server_cpu * 1e6 / deliveries, 2),
        "server_cpu_cores": {name: round(value / elapsed, 2) for name, value in cpu.items()},
        "loadgen_cpu_cores": round(loadgen_cpu / elapsed, 2),
        "machine_busy_share": round(busy, 2),
        "load_average_1m": round(load, 2),
        "machine_bound": busy >= BUSY,
        "sockets_closed": seen.closed,
    }
    row["server"] = server
    if livefold:
        kafka_stages = _kafka_stages(settings, system.stream_id, seen.arrivals, since)
        row["stages"] = {**kafka_stages, "fold_worker": worker_stages, **gateway_stages}
    return row


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _by_window(sends: list[float], latencies: list[float], since: float) -> list[float]:
    windows: dict[int, list[float]] = {}
    for sent, latency in zip(sends, latencies, strict=True):
        windows.setdefault(int((sent - since) // WINDOW_SECONDS), []).append(latency)
    return [_ms(percentile(windows[w], 0.99)) for w in sorted(windows)]


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def _kafka_pid(settings: Settings) -> int | None:
    for pidfile in settings.data_dir.glob("**/*.pid"):
        if "kafka" in pidfile.name:
            return int(pidfile.read_text())
    return None


# ------------------------------------------------------------------ where the time goes


def _kafka_stages(
    settings: Settings, stream_id: str, arrivals: dict[str, float], since: float
) -> dict[str, Any]:
    """Per message the probe socket saw: sent -> accepted by the gateway (the event's time) ->
    the verdict produced (gateway linger, broker, the worker's fetch, decode and moderation
    fold) -> the notice produced (the verdict's append, the chat fold) -> on the socket (the
    worker's producer, broker, the gateway's feed and hub, the socket)."""
    if not arrivals:
        return {}
    codec = Codec.from_settings(settings)
    chat = catalog()["livefold.chat.MessageSent"].topic
    verdicts = catalog()["livefold.moderation.VerdictIssued"].topic
    partition = partition_of(stream_id, settings.topic_partitions)
    # State records are partitioned by their own key (a notice's is "<stream>#notice").
    notices = partition_of(f"{stream_id}#notice", settings.topic_partitions)
    partitions = [(chat, partition), (verdicts, partition), (state_topic("chat"), notices)]
    # message id -> (its text's id, sent, accepted, the chat record's timestamp)
    accepted: dict[str, tuple[str, float, float, float]] = {}
    judged: dict[str, float] = {}
    verdicts_by_kind: dict[str, int] = {}  # a message held or blocked gets no notice
    noticed: dict[str, float] = {}
    for message in read_raw(settings, partitions):
        written = message.timestamp()[1] / 1000
        if written < since - 1:
            continue
        if message.topic() == state_topic("chat"):
            record = from_record(message.value() or b"")
            if record.kind == "notice":
                noticed.setdefault(str(record.value.get("message_id")), written)
            continue
        event = codec.decode(message.value() or b"")
        if event.type == "livefold.chat.MessageSent":
            text = str(event.body["text"]).split()
            if len(text) == 3 and text[0] == "bench":
                at = event.occurred_at_ms / 1000
                accepted[str(event.body["message_id"])] = (text[1], float(text[2]), at, written)
        elif event.type == "livefold.moderation.VerdictIssued":
            if str(event.body["message_id"]) not in judged:
                kind = f"{event.body.get('verdict')}/{event.body.get('rule')}"
                verdicts_by_kind[kind] = verdicts_by_kind.get(kind, 0) + 1
            judged.setdefault(str(event.body["message_id"]), written)
    stages: dict[str, list[float]] = {
        "send_to_accepted": [],
        "accepted_to_verdict_produced": [],
        "verdict_to_notice_produced": [],
        "notice_produced_to_socket": [],
    }
    for message_id, (ident, sent, at, chat_written) in accepted.items():
        arrived = arrivals.get(ident)
        if arrived is None or message_id not in judged or message_id not in noticed:
            continue
        stages["send_to_accepted"].append(at - sent)
        stages["accepted_to_verdict_produced"].append(judged[message_id] - chat_written)
        stages["verdict_to_notice_produced"].append(noticed[message_id] - judged[message_id])
        stages["notice_produced_to_socket"].append(arrived - noticed[message_id])
    timed: dict[str, Any] = {
        name: {"p50_ms": _ms(percentile(values, 0.5)), "p99_ms": _ms(percentile(values, 0.99))}
        for name, values in stages.items()
    }
    timed["messages_timed"] = {
        "probe_saw": len(arrivals),
        "accepted": len(accepted),
        "judged": len(judged),
        "verdicts": verdicts_by_kind,
        "noticed": len(noticed),
        "matched": len(stages["send_to_accepted"]),
    }
    return timed


def _worker_logs(settings: Settings, system: System) -> dict[Path, int]:
    """The fold workers' log files and their sizes now."""
    names = [name for name in system.servers if name not in ("gateway", "kafka")]
    paths = [settings.data_dir / "logs" / f"{name}.log" for name in names]
    return {path: path.stat().st_size for path in paths if path.exists()}


def _worker_stages(logs: dict[Path, int]) -> dict[str, Any]:
    """The fold workers' own timings (`agents.timings`) logged since: the median of their
    p50s and the largest p99, per stage."""
    reports: dict[str, list[dict[str, float]]] = {}
    for path, offset in logs.items():
        with path.open("rb") as log:
            log.seek(offset)
            for line in log.read().decode(errors="replace").splitlines():
                _, mark, report = line.partition(TIMINGS_MARK)
                if mark:
                    for stage, summary in json.loads(report).items():
                        reports.setdefault(stage, []).append(summary)
    return {
        stage: {
            "batches": sum(int(s["n"]) for s in summaries),
            "p50_ms": sorted(s["p50_ms"] for s in summaries)[len(summaries) // 2],
            "p99_ms": max(s["p99_ms"] for s in summaries),
        }
        for stage, summaries in reports.items()
    }


def _scrape(settings: Settings, url: str) -> str:
    """The gateway's metrics, as its scraper reads them (with the install's metrics token)."""
    token = settings.secret("gateway_metrics_token")
    answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    answer.raise_for_status()
    return answer.text


def _buckets(text: str, name: str) -> dict[float, float]:
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {
                float(sample.labels["le"]): sample.value
                for sample in family.samples
                if sample.name.endswith("_bucket")
            }
    return {}


def _histogram_stages(before: str, after: str) -> dict[str, Any]:
    """p50 and p99 of the gateway's stage histograms over the run (linear within a bucket)."""
    stages = {}
    for stage, name in GATEWAY_HISTOGRAMS.items():
        first, last = _buckets(before, name), _buckets(after, name)
        counts = sorted((le, last[le] - first.get(le, 0.0)) for le in last)
        stages[stage] = {
            f"p{int(q * 100)}_ms": _ms(_bucket_quantile(counts, q)) for q in (0.5, 0.99)
        }
    return stages


def _bucket_quantile(cumulative: list[tuple[float, float]], q: float) -> float:
    total = cumulative[-1][1] if cumulative else 0.0
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in cumulative:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(1e-9, count - below)
        lower, below = upper, count
    return lower


BENCHMARKS = {"gateway_fanout": fanout}
