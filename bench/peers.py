"""The fan-out benchmark's peers, driven by the same load generator as livefold:

- `broadcast`: a `websockets` server (no Kafka, no folds) that batches the chat messages it is
  sent and every `BATCH_MS` writes one frame to all subscribers with `websockets.broadcast`;
  `python -m bench.peers PORT` runs it. What Python fan-out costs with nothing in front of it.
- `centrifugo`: Centrifugo (Go), built into the cache like stripe-mock (`infra.go`); chat is
  published through its HTTP API, subscribers speak its JSON protocol.

Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from infra.go import go_install
from infra.service import Port, Service
from livefold.settings import Settings

BATCH_MS = 50
CENTRIFUGO_MODULE = "github.com/centrifugal/centrifugo/v6"
CENTRIFUGO_VERSION = "v6.9.1"
CENTRIFUGO_KEY = "livefold-bench"  # its HTTP API key; the server only listens on loopback
CHANNEL = "chat"


# ------------------------------------------------------------------ websockets.broadcast


async def serve_broadcast(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    subscribers: set[ServerConnection] = set()
    pending: list[dict[str, Any]] = []

    async def handler(socket: ServerConnection) -> None:
        await socket.send(json.dumps({"type": "welcome"}))
        try:
            async for raw in socket:
                frame = json.loads(raw)
                if frame.get("op") == "subscribe":
                    subscribers.add(socket)
                    await socket.send(json.dumps({"type": "snapshot"}))
                elif frame.get("op") == "send":
                    pending.append({"kind": "message", "value": frame["body"]})
                    await socket.send(json.dumps({"type": "ack", "id": frame["id"]}))
        finally:
            subscribers.discard(socket)

    async def tick() -> None:
        while True:
            await asyncio.sleep(BATCH_MS / 1000)
            if pending:
                batch = {"type": "batch", "channel": CHANNEL, "notices": pending[:]}
                pending.clear()
                broadcast(subscribers, json.dumps(batch))

    async with serve(handler, "127.0.0.1", port, compression=None, max_size=None, backlog=4096):
        await tick()


@dataclass
class BroadcastPeer(Service):
    port: int = 0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.peers", str(self.port)]

    def environment(self) -> dict[str, str]:
        return {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def is_ready(self) -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True


def broadcast_peer(settings: Settings, port: int) -> BroadcastPeer:
    return BroadcastPeer(
        name="peer-broadcast",
        workdir=settings.data_dir / "peer-broadcast",
        ports=[Port(port, "(a free port)")],
        port=port,
    )


# ------------------------------------------------------------------ Centrifugo


@dataclass
class CentrifugoPeer(Service):
    binary: Path = Path("centrifugo")
    port: int = 0
    config: dict[str, Any] = field(default_factory=dict)

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "client": {"insecure": True, "allowed_origins": ["*"]},
            "http_api": {"key": CENTRIFUGO_KEY},
            "http_server": {"address": "127.0.0.1", "port": self.port},
            "log": {"level": "error"},
        }
        (self.workdir / "config.json").write_text(json.dumps(config))

    def command(self) -> list[str]:
        return [str(self.binary), "--config", str((self.workdir / "config.json").resolve())]

    def environment(self) -> dict[str, str]:
        return {"GOMAXPROCS": str(os.cpu_count() or 1)}

    def is_ready(self) -> bool:
        answer = httpx.post(
            f"http://127.0.0.1:{self.port}/api/info",
            json={},
            headers={"X-API-Key": CENTRIFUGO_KEY},
            timeout=2.0,
        )
        return answer.is_success


def centrifugo_peer(settings: Settings, port: int) -> CentrifugoPeer:
    binary = go_install(
        settings, CENTRIFUGO_MODULE, CENTRIFUGO_VERSION, "the fan-out benchmark's peer"
    )
    return CentrifugoPeer(
        name="peer-centrifugo",
        workdir=settings.data_dir / "peer-centrifugo",
        ports=[Port(port, "(a free port)")],
        binary=binary,
        port=port,
    )


def centrifugo_hello() -> list[bytes]:
    """Connect and subscribe in one frame (Centrifugo reads newline-separated commands)."""
    from bench.wsload import masked_text

    commands = [{"id": 1, "connect": {}}, {"id": 2, "subscribe": {"channel": CHANNEL}}]
    return [masked_text("\n".join(json.dumps(c) for c in commands).encode())]


def centrifugo_publish(text: str) -> dict[str, Any]:
    return {"channel": CHANNEL, "data": {"text": text}}


if __name__ == "__main__":
    asyncio.run(serve_broadcast(int(sys.argv[1])))
