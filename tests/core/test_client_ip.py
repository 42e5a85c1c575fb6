"""The client's address behind trusted proxies, and contracts' IP allow-lists: tables."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.client_ip import (
    ClientAddress,
    client_address,
    ip_allowed,
    parse_address,
    parse_networks,
)

PROXIES = parse_networks(["10.0.0.0/8", "2001:db8:ff::/48", "::ffff:172.16.0.0/108"])


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        # No proxy in front: the peer is the client, with or without a header.
        ("198.51.100.7", (), ClientAddress(ip("198.51.100.7"), "peer")),
        # A forged header from an untrusted peer is ignored.
        ("198.51.100.7", ("203.0.113.5",), ClientAddress(ip("198.51.100.7"), "peer")),
        ("198.51.100.7", ("10.0.0.1, 203.0.113.5",), ClientAddress(ip("198.51.100.7"), "peer")),
        # A trusted proxy: the rightmost untrusted hop is the client.
        ("10.0.0.2", ("203.0.113.5",), ClientAddress(ip("203.0.113.5"), "forwarded")),
        ("10.0.0.2", ("1.2.3.4, 203.0.113.5",), ClientAddress(ip("203.0.113.5"), "forwarded")),
        (
            "10.0.0.2",
            ("1.2.3.4, 203.0.113.5, 10.9.9.9",),
            ClientAddress(ip("203.0.113.5"), "forwarded"),
        ),
        # Several header fields are one list, in order.
        (
            "10.0.0.2",
            ("1.2.3.4", "203.0.113.5, 10.1.1.1"),
            ClientAddress(ip("203.0.113.5"), "forwarded"),
        ),
        # A trusted proxy without a header: the peer is the client.
        ("10.0.0.2", (), ClientAddress(ip("10.0.0.2"), "peer")),
        ("10.0.0.2", ("",), ClientAddress(ip("10.0.0.2"), "peer")),
        # Every hop trusted: the leftmost.
        ("10.0.0.2", ("10.3.3.3, 10.4.4.4",), ClientAddress(ip("10.3.3.3"), "forwarded")),
        # Garbage stops the walk: the nearest trusted hop to its right stands for the client.
        ("10.0.0.2", ("unknown",), ClientAddress(ip("10.0.0.2"), "proxy")),
        (
            "10.0.0.2",
            ("203.0.113.5, evil.example, 10.4.4.4",),
            ClientAddress(ip("10.4.4.4"), "proxy"),
        ),
        ("10.0.0.2", ("<script>",), ClientAddress(ip("10.0.0.2"), "proxy")),
        ("10.0.0.2", ("999.1.1.1",), ClientAddress(ip("10.0.0.2"), "proxy")),
        # Garbage left of the first untrusted hop does not matter.
        ("10.0.0.2", ("garbage, 203.0.113.5",), ClientAddress(ip("203.0.113.5"), "forwarded")),
        # Ports and brackets.
        ("10.0.0.2", ("203.0.113.5:4711",), ClientAddress(ip("203.0.113.5"), "forwarded")),
        ("10.0.0.2", ("[2001:db8::1]:4711",), ClientAddress(ip("2001:db8::1"), "forwarded")),
        # IPv6 proxies and clients.
        ("2001:db8:ff::1", ("2001:db8::9",), ClientAddress(ip("2001:db8::9"), "forwarded")),
        ("2001:db8:1::1", ("2001:db8::9",), ClientAddress(ip("2001:db8:1::1"), "peer")),
        # IPv4-mapped peers and hops are IPv4: the proxy 10.0.0.2 is trusted as ::ffff:10.0.0.2.
        ("::ffff:10.0.0.2", ("::ffff:203.0.113.5",), ClientAddress(ip("203.0.113.5"), "forwarded")),
        # A mapped trusted network (::ffff:172.16.0.0/108 is 172.16.0.0/12).
        ("172.20.0.1", ("203.0.113.5",), ClientAddress(ip("203.0.113.5"), "forwarded")),
        # A peer that is no IP address.
        ("testclient", ("203.0.113.5",), None),
        ("", (), None),
    ],
)
def test_client_address(peer: str, header: tuple[str, ...], expected: ClientAddress | None) -> None:
    assert client_address(peer, header, PROXIES) == expected


def test_nothing_trusted_means_the_peer_always() -> None:
    assert client_address("10.0.0.2", ("203.0.113.5",), ()) == ClientAddress(ip("10.0.0.2"), "peer")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("192.0.2.1:80", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("[::ffff:192.0.2.1]:80", "192.0.2.1"),
        ("unknown", None),
        ("_hidden", None),  # RFC 7239 obfuscated node
        ("192.0.2.1:80:90", None),
        ("[2001:db8::1", None),
        ("", None),
        ("١٢.0.0.1", None),  # non-ASCII digits
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed is not None else None) == expected


@pytest.mark.parametrize(
    ("address", "allowlist", "allowed"),
    [
        ("192.0.2.10", ["192.0.2.0/24"], True),
        ("192.0.3.10", ["192.0.2.0/24"], False),
        ("192.0.2.10", ["192.0.2.10"], True),
        ("192.0.2.11", ["192.0.2.10"], False),
        ("192.0.2.10", ["192.0.2.10/24"], True),  # host bits, as the contracts file allows
        ("2001:db8:5::1", ["2001:db8::/32"], True),
        ("2001:db9::1", ["2001:db8::/32"], False),
        # IPv4-mapped addresses and networks are their IPv4.
        ("::ffff:192.0.2.10", ["192.0.2.0/24"], True),
        ("192.0.2.10", ["::ffff:192.0.2.0/120"], True),
        ("::ffff:192.0.3.10", ["192.0.2.0/24"], False),
        # An IPv4 client never matches an IPv6 network that is not the mapped block.
        ("192.0.2.10", ["::/0"], False),
        ("192.0.2.10", [], False),
        ("not an address", ["0.0.0.0/0"], False),
        ("192.0.2.10", ["garbage", "192.0.2.0/24"], True),
        ("192.0.2.10", ["garbage"], False),
    ],
)
def test_ip_allowed(address: str, allowlist: list[str], allowed: bool) -> None:
    assert ip_allowed(address, allowlist) is allowed


def test_ip_allowed_takes_a_parsed_address() -> None:
    assert ip_allowed(ip("::ffff:192.0.2.10"), ["192.0.2.0/24"])
    assert ip_allowed(ip("192.0.2.10"), ("192.0.2.0/24",))


def test_parse_networks_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33'"):
        parse_networks(["10.0.0.0/8", "10.0.0.0/33"])
    assert parse_networks(["::ffff:10.0.0.0/104"]) == (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    "text", ["192.0.2.1:", "192.0.2.1:http", "[2001:db8::1]x", "[2001:db8::1]:"]
)
def test_parse_address_refuses_a_bad_port(text: str) -> None:
    assert parse_address(text) is None


@given(st.text(max_size=40), st.lists(st.text(max_size=60), max_size=3))
def test_no_header_makes_it_raise(peer: str, header: list[str]) -> None:
    found = client_address(peer, header, PROXIES)
    assert found is None or found.source in ("peer", "forwarded", "proxy")
    # Whatever the header says, an untrusted peer is the client.
    assert client_address("198.51.100.7", header, PROXIES) == ClientAddress(
        ip("198.51.100.7"), "peer"
    )
