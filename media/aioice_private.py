"""aioice internals livefold relies on (aioice is pinned in pyproject.toml through aiortc).

aioice offers every address of every interface as an ICE host candidate and has no option to
choose them. The media service binds only the addresses of its settings
(`media_ice_addresses`), so a peer never learns, or reaches, any other: `ice.get_host_addresses`
is replaced, once per process. tests/test_media_internals.py fails if aioice renames it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from aioice import ice

HOST_ADDRESSES = "get_host_addresses"
RELIES_ON: dict[type, tuple[str, ...]] = {}
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
