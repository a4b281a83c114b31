"""aioice internals livefold relies on (aioice is pinned in pyproject.toml through aiortc).

aioice offers every address of every interface as an ICE host candidate and has no option to
choose them. The media service binds only the addresses of its settings
(`media_ice_addresses`), so a peer never learns, or reaches, any other: `ice.get_host_addresses`
is replaced, once per process. tests/test_media_internals.py fails if aioice renames it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aioice import ice

HOST_ADDRESSES = "get_host_addresses"
RELIES_ON: dict[type, tuple[str, ...]] = {}
PINNED_SOURCE: dict[str, str] = {
    "aioice.ice.get_host_addresses": (
        "d4a54f9a68c39ff1bed532e76bd148cf1530aeb35b9be32900b53e234b78ae4f"
    ),
}


def use_host_addresses(addresses: Sequence[str]) -> None:
    chosen = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    if not callable(getattr(ice, HOST_ADDRESSES, None)):
        raise RuntimeError(f"aioice changed: aioice.ice has no {HOST_ADDRESSES}")
    setattr(ice, HOST_ADDRESSES, host_addresses)
