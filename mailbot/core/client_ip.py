"""Who is asking: the client's address behind reverse proxies, and IP allow-lists.

The web side runs behind nginx or Caddy, so the TCP peer is usually the proxy
and the client's address comes in ``X-Forwarded-For`` (de-facto standard; the
standardised ``Forwarded`` header of RFC 7239 carries the same chain). Each
proxy *appends* the address of the peer it heard from, so the header reads
left to right from the claimed client to the last proxy, and only its right
end can be believed: anything to the left of an untrusted hop was written by
that hop, who may be the client itself lying. The rules:

1. The peer is not in ``trusted_proxies``: the header is ignored, whatever it
   says (a forged header from an untrusted peer proves nothing); the peer is
   the client.
2. The peer is trusted: the header is walked from the right, trusted hops are
   skipped, and the first untrusted hop is the client.
3. Every hop is trusted: the leftmost is the client (a machine on the
   proxies' own network).
4. A malformed entry (``unknown``, a host name, garbage) stops the walk: the
   nearest trusted hop to its right stands for the client, since nothing left
   of garbage can be believed (``source`` says ``proxy``).
5. A peer that is not an IP address (a Unix socket, a test client): None.

Several ``X-Forwarded-For`` fields count as one list joined by commas, in
order (RFC 9110 section 5.3). Entries may carry a port, ``192.0.2.1:4711`` or
``[2001:db8::1]:4711``, as some proxies write them; the port is dropped.

IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``, RFC 4291 section 2.5.5.2),
which a dual-stack socket reports for IPv4 clients, are compared as the IPv4
address they carry, both as addresses and as networks (``::ffff:0:0/96`` and
longer prefixes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Source = Literal["peer", "forwarded", "proxy"]

# ::ffff:0:0/96, the IPv4-mapped block (RFC 4291 section 2.5.5.2).
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True)
class ClientAddress:
    """The client's address and where it came from: the TCP ``peer``, an untrusted hop in
    the ``forwarded`` header, or the nearest trusted ``proxy`` when the header was garbage."""

    address: IPAddress
    source: Source


def parse_address(text: str) -> IPAddress | None:
    """An address as a header or a socket gives it (a port and brackets allowed), or None.

    IPv4-mapped IPv6 addresses come back as IPv4.
    """
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:4711 (RFC 3986 section 3.2.2)
        text, bracket, port = text[1:].partition("]")
        if not bracket or not _port_or_nothing(port):
            return None
    elif text.count(":") == 1:  # 192.0.2.1:4711; an IPv6 address has two colons or more
        text, _, port = text.partition(":")
        if not _port_or_nothing(":" + port):
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return _unmapped(address)


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (``10.0.0.0/8``, ``2001:db8::/32``, or a single address) as networks; host bits
    are allowed and dropped. Raises ValueError naming the first entry that is none."""
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
        networks.append(_unmapped_network(network))
    return tuple(networks)


def client_address(
    peer: str, forwarded_for: Sequence[str], trusted_proxies: Sequence[IPNetwork]
) -> ClientAddress | None:
    """The client of a request from ``peer`` with these ``X-Forwarded-For`` field values
    (rules in the module docstring); None when the peer is not an IP address.

    ``trusted_proxies`` come from ``parse_networks``, which turns IPv4-mapped networks
    into IPv4 ones as the addresses compared with them are.
    """
    hop = parse_address(peer)
    if hop is None:
        return None
    if not _within(hop, trusted_proxies):
        return ClientAddress(hop, "peer")
    source: Source = "peer"
    for entry in reversed(_entries(forwarded_for)):
        earlier = parse_address(entry)
        if earlier is None:
            return ClientAddress(hop, "proxy")
        hop, source = earlier, "forwarded"
        if not _within(hop, trusted_proxies):
            break
    return ClientAddress(hop, source)


def ip_allowed(address: str | IPAddress, allowlist: Iterable[str]) -> bool:
    """Whether ``address`` lies in one of the networks of a contract's ``ip_allowlist``.

    An unreadable address is never allowed; an unreadable list entry allows nothing
    (the contracts file refuses such entries before they get here).
    """
    parsed = parse_address(address) if isinstance(address, str) else _unmapped(address)
    if parsed is None:
        return False
    for entry in allowlist:
        try:
            networks = parse_networks([entry])
        except ValueError:
            continue
        if _within(parsed, networks):
            return True
    return False


def _port_or_nothing(text: str) -> bool:
    return not text or (text[0] == ":" and text[1:].isascii() and text[1:].isdigit())


def _entries(forwarded_for: Sequence[str]) -> list[str]:
    return [entry for value in forwarded_for for entry in value.split(",") if entry.strip()]


def _within(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    # ``in`` is False across versions, never an error.
    return any(address in network for network in networks)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unmapped_network(network: IPNetwork) -> IPNetwork:
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network
