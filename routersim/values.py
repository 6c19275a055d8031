"""RouterOS value formats, both ways: durations, round-trip times, MACs, addresses, rates.

Durations and MACs come from common/ (shared with the agent); what only a router needs,
such as reading the plain-seconds form RouterOS accepts on input, lives here.
"""

from __future__ import annotations

import ipaddress
import re

from common.durations import format_duration as _format_whole_seconds
from common.durations import parse_duration_precise
from common.mac import normalize_mac

__all__ = [
    "format_duration",
    "format_rtt",
    "ip_to_int",
    "normalize_ip",
    "normalize_mac",
    "normalize_prefix",
    "normalize_rate_pair",
    "parse_duration",
    "parse_ranges",
    "parse_rate",
]


def format_duration(seconds: float) -> str:
    """Seconds as RouterOS prints them, fractions dropped: "1w2d3h4m5s", "47m3s", "0s"."""
    return _format_whole_seconds(max(0, int(seconds)))


def parse_duration(text: str) -> float:
    """Seconds from a time as RouterOS accepts it: "1h30m", "00:30:00", "100ms", "90", "0.5"."""
    if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", text):
        return float(text)
    return parse_duration_precise(text)


def format_rtt(seconds: float) -> str:
    """A round-trip time as /ping prints it: "14ms612us", "612us", "1s2ms"."""
    micros = max(0, round(seconds * 1_000_000))
    whole, micros = divmod(micros, 1_000_000)
    millis, micros = divmod(micros, 1000)
    parts = [f"{n}{unit}" for n, unit in ((whole, "s"), (millis, "ms"), (micros, "us")) if n]
    return "".join(parts) or "0ms"


def ip_to_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def normalize_ip(text: str) -> str:
    """A dotted IPv4 address; ValueError otherwise."""
    return str(ipaddress.IPv4Address(text.strip()))


def normalize_prefix(text: str) -> tuple[str, str]:
    """("10.5.50.1/24", "10.5.50.0") from an interface address; a bare address is a /32."""
    iface = ipaddress.IPv4Interface(text.strip())
    return (f"{iface.ip}/{iface.network.prefixlen}", str(iface.network.network_address))


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """Pool ranges "10.0.0.2-10.0.0.254,10.0.1.0/24,10.0.2.1" as inclusive integer spans."""
    spans = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, last = (ip_to_int(p) for p in part.split("-", 1))
        elif "/" in part:
            net = ipaddress.IPv4Network(part, strict=False)
            first, last = int(net.network_address), int(net.broadcast_address)
        else:
            first = last = ip_to_int(part)
        if last < first:
            raise ValueError(f"range ends before it starts: {part!r}")
        spans.append((first, last))
    return spans


_RATE = re.compile(r"(\d+(?:\.\d+)?)([kKMG]?)")
_RATE_SCALE = {"": 1, "k": 1000, "K": 1000, "M": 1_000_000, "G": 1_000_000_000}


def parse_rate(text: str) -> int:
    """Bits per second from "512k", "5M", "1G", "64000"."""
    match = _RATE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a rate: {text!r}")
    return int(float(match.group(1)) * _RATE_SCALE[match.group(2)])


def normalize_rate_pair(text: str) -> str:
    """ "1M/5M" -> "1000000/5000000", as RouterOS prints /queue/simple limits."""
    halves = text.split("/")
    if len(halves) == 1:
        halves = halves * 2
    if len(halves) != 2:
        raise ValueError(f"not an upload/download pair: {text!r}")
    return "/".join(str(parse_rate(h)) for h in halves)
