"""aioice internals livefold relies on (aioice is pinned in pyproject.toml through aiortc).

aioice offers every address of every interface as an ICE host candidate and has no option to
choose them. The media service binds only the addresses of its settings
(`media_ice_addresses`), so a peer never learns, or reaches, any other: `ice.get_host_addresses`
is replaced, once per process. tests/test_media_internals.py fails if aioice renames it.

The ingest's UDP sockets get a larger receive buffer (`raise_receive_buffer`): aioice keeps
them in `Connection._protocols`, each a `StunProtocol` with its asyncio `transport`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Sequence

from aioice import Connection, ice
from aioice.ice import StunProtocol

HOST_ADDRESSES = "get_host_addresses"
PROTOCOLS = "_protocols"
RELIES_ON: dict[type, tuple[str, ...]] = {Connection: (PROTOCOLS,), StunProtocol: ("transport",)}
log = logging.getLogger(__name__)
PINNED_SOURCE: dict[str, str] = {
    "aioice.ice.get_host_addresses": (
        "d4a54f9a68c39ff1bed532e76bd148cf1530aeb35b9be32900b53e234b78ae4f"
    ),
}


def use_host_addresses(addresses: Sequence[str]) -> Callable[[bool, bool], list[str]]:
    """From now on, offer only `addresses`; returns aioice's own function."""
    chosen = list(addresses)
    original: Callable[[bool, bool], list[str]] = getattr(ice, HOST_ADDRESSES)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    if not callable(getattr(ice, HOST_ADDRESSES, None)):
        raise RuntimeError(f"aioice changed: aioice.ice has no {HOST_ADDRESSES}")
    setattr(ice, HOST_ADDRESSES, host_addresses)
    return original


@contextlib.contextmanager
def host_addresses_only(addresses: Sequence[str]) -> Iterator[None]:
    """`use_host_addresses` for a while (a test's own peers), then aioice's own again."""
    original = use_host_addresses(addresses)
    try:
        yield
    finally:
        setattr(ice, HOST_ADDRESSES, original)


def raise_receive_buffer(connection: object, size: int) -> None:
    """Ask for `size` bytes of receive buffer on each of `connection`'s UDP sockets (Linux caps
    it at net.core.rmem_max; the size granted is logged when it is less)."""
    if not isinstance(connection, Connection):
        raise RuntimeError(f"not an aioice Connection: {connection!r}")
    protocols: list[StunProtocol] = getattr(connection, PROTOCOLS)
    for protocol in protocols:
        sock = protocol.transport.get_extra_info("socket")
        if sock is None:
            continue
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if granted < size:
            log.debug("ingest socket receive buffer %d bytes (asked %d)", granted, size)
