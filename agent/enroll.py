"""``ispfleet-agent enroll``: trade a one-time enrollment token for the agent's credential.

The box keeps a stable device key (``<state_dir>/device_key``, made once) so a re-flashed box is
recognised as the same site, and a WireGuard keypair (``<state_dir>/wg_private_key``): the
private key never leaves the box, only its public half goes to the hub. The credential is
written into the config's ``[hub]`` section with the URL the operator typed (never one the hub
sends back); everything else in the file stays byte-for-byte. With a ``wireguard`` section in
the answer, ``wg-ispfleet.conf`` is written beside the config.

The answer is untrusted input that ends up in files run as root (wg-quick executes
``PostUp =`` lines): every field is checked and the files are rendered from the parsed values,
and nothing is written unless all of it is valid. Plain ``http://`` is refused for a hub that
is not on this machine unless ``allow_insecure_http`` says so: the token and the credential
would cross the network in clear.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import secrets
import socket
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent.config import AgentSettings
from agent.errors import AgentError
from agent.hublink import agent_version
from common import wire

TOKEN_REJECTED = "enrollment token is invalid, expired or already used"
WIREGUARD_CONFIG = "wg-ispfleet.conf"
REQUEST_TIMEOUT = 30.0
_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")  # [table], not [[array]]
_ANY_HEADER = re.compile(r"^\s*\[")
_CREDENTIAL = re.compile(r"^ifa_[0-9]{1,18}_[A-Za-z0-9_-]{20,200}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_NAME_LIMIT = 100  # site and tenant names in the answer


class EnrollmentError(AgentError, ValueError):
    """Enrollment failed (bad token, unreachable hub, bad arguments); the config is unchanged."""


@dataclass(frozen=True, slots=True)
class WireGuardAnswer:
    """The hub's WireGuard peer, every field parsed (rendered back from these, never pasted)."""

    addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]
    hub_public_key: str
    endpoint: str
    allowed_ips: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    persistent_keepalive: int


@dataclass(frozen=True, slots=True)
class EnrollmentAnswer:
    agent_id: int | None
    site: str | None
    tenant: str | None
    credential: str
    wireguard: WireGuardAnswer | None


async def enroll(
    hub_url: str, token: str, config_path: str, *, allow_insecure_http: bool = False
) -> dict[str, Any]:
    """Enroll this box with the hub and write its config; returns what was done.

    The result names the agent, site, tenant, hub URL and the files written; the credential
    itself is only in the config file (mode 0600).
    """
    hub_url = checked_hub_url(hub_url, allow_insecure_http=allow_insecure_http)
    if not token.strip():
        raise EnrollmentError("enrollment token is empty")
    config = Path(config_path)
    existing = _read_config(config)
    state_dir = _state_dir(config, existing)
    device_key = _device_key(state_dir)
    wg_private, wg_public = _wireguard_keys(state_dir)

    reply = await _post_enrollment(
        hub_url,
        {
            "token": token.strip(),
            "device_key": device_key,
            "hostname": socket.gethostname(),
            "agent_version": agent_version(),
            "wg_public_key": wg_public,
        },
    )
    answer = checked_answer(reply)
    # Everything is rendered (and so checked) before the first file is touched.
    text = _with_hub_section(
        existing, url=hub_url, credential=answer.credential, site=answer.site, state_dir=state_dir
    )
    wg_path = config.parent / WIREGUARD_CONFIG if answer.wireguard else None
    wg_text = _wireguard_config(wg_private, answer.wireguard) if answer.wireguard else None

    written = [str(config)]
    _write_private(config, text)
    if wg_path is not None and wg_text is not None:
        _write_private(wg_path, wg_text)
        written.append(str(wg_path))
    return {
        "agent_id": answer.agent_id,
        "site": answer.site,
        "tenant": answer.tenant,
        "hub_url": hub_url,
        "config_path": str(config),
        "wireguard_config": str(wg_path) if wg_path else None,
        "written": written,
    }


async def _post_enrollment(hub_url: str, body: dict[str, Any]) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            # No redirects: a 307 to http:// would carry the token in clear.
            http.post(hub_url + wire.ENROLL_PATH, json=body, allow_redirects=False) as response,
        ):
            try:
                reply = await response.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                reply = None
            status = response.status
    except (aiohttp.ClientConnectionError, OSError, TimeoutError) as exc:
        raise EnrollmentError(f"cannot reach hub at {hub_url}: {exc}") from exc
    if status == 401:
        raise EnrollmentError(TOKEN_REJECTED)
    error = reply.get("error") if isinstance(reply, dict) else None
    if status != 200 or not isinstance(reply, dict):
        raise EnrollmentError(f"hub refused the enrollment: HTTP {status}: {error or 'no details'}")
    return reply


# --- what the operator typed and what the hub answered -------------------------------------------


def checked_hub_url(url: str, *, allow_insecure_http: bool = False) -> str:
    """The hub URL without a trailing slash; EnrollmentError when it is not one to trust."""
    url = url.strip().rstrip("/") if isinstance(url, str) else ""
    if not re.match(r"^https?://[^/\s]+", url):
        raise EnrollmentError(f"hub URL must start with http:// or https://, got {url!r}")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise EnrollmentError(f"hub URL must not contain spaces or control characters: {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise EnrollmentError(f"hub URL is not valid: {url!r}: {exc}") from None
    if not parts.hostname or parts.username is not None or parts.query or parts.fragment:
        raise EnrollmentError(
            f"hub URL must be scheme://host[:port][/path], no user, query or fragment: {url!r}"
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise EnrollmentError(
            f"refusing plain http:// to {parts.hostname}: the enrollment token and the agent's"
            " credential would cross the network unencrypted; use https://, or pass"
            " --allow-insecure-http if this network is trusted"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Refused(Exception):
    """One field of the hub's answer is not acceptable (the message names it)."""


def checked_answer(reply: dict[str, Any]) -> EnrollmentAnswer:
    """The hub's answer with every field checked; EnrollmentError names the first bad one."""
    try:
        credential = reply.get("credential")
        if not credential:
            raise EnrollmentError("the hub's answer has no credential")
        if not isinstance(credential, str) or not _CREDENTIAL.fullmatch(credential):
            raise _Refused("credential: not an ifa_<id>_<secret> credential")
        agent_id = reply.get("agent_id")
        if agent_id is not None and (type(agent_id) is not int or not 0 < agent_id < 2**63):
            raise _Refused("agent_id: not a positive integer")
        wireguard = reply.get("wireguard")
        if wireguard is not None and not isinstance(wireguard, dict):
            raise _Refused("wireguard: not an object")
        return EnrollmentAnswer(
            agent_id=agent_id,
            site=_name(reply, "site"),
            tenant=_name(reply, "tenant"),
            credential=credential,
            wireguard=_wireguard_answer(wireguard) if wireguard else None,
        )
    except _Refused as exc:
        raise EnrollmentError(
            f"the hub's enrollment answer was refused, nothing was written: {exc}"
        ) from None


def _name(reply: dict[str, Any], key: str) -> str | None:
    value = reply.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= _NAME_LIMIT:
        raise _Refused(f"{key}: not a name of 1-{_NAME_LIMIT} characters")
    _plain_text(key, value)
    return value


def _plain_text(key: str, value: Any) -> str:
    """A string without newlines or other control characters (one wg-quick/TOML value)."""
    if not isinstance(value, str):
        raise _Refused(f"{key}: not a string")
    if not value.isprintable():
        raise _Refused(f"{key}: contains a newline or another control character")
    return value


def _wireguard_answer(wireguard: dict[str, Any]) -> WireGuardAnswer:
    address = _plain_text("wireguard.address", wireguard.get("address"))
    try:
        addresses = [ipaddress.ip_interface(part.strip()) for part in address.split(",")]
    except ValueError:
        addresses = []
    if not addresses or any(getattr(a, "scope_id", None) for a in addresses):
        raise _Refused("wireguard.address: not an IP address with prefix, e.g. 10.99.0.2/32")
    key = _plain_text("wireguard.hub_public_key", wireguard.get("hub_public_key"))
    if not _is_wireguard_key(key):
        raise _Refused("wireguard.hub_public_key: not a base64 32-byte WireGuard key")
    endpoint = _endpoint(_plain_text("wireguard.endpoint", wireguard.get("endpoint")))
    allowed = _plain_text("wireguard.allowed_ips", wireguard.get("allowed_ips"))
    try:
        allowed_ips = [ipaddress.ip_network(part.strip()) for part in allowed.split(",")]
    except ValueError:
        raise _Refused("wireguard.allowed_ips: not a list of networks, e.g. 10.99.0.1/32") from None
    keepalive = wireguard.get("persistent_keepalive", 25)
    if type(keepalive) is not int or not 0 <= keepalive <= 65535:
        raise _Refused("wireguard.persistent_keepalive: not a number of seconds (0-65535)")
    return WireGuardAnswer(addresses, key, endpoint, allowed_ips, keepalive)


def _endpoint(text: str) -> str:
    """``host:port`` with host a DNS name, an IPv4 address or a bracketed IPv6 address."""
    problem = "wireguard.endpoint: not host:port"
    host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise _Refused(problem)
    if host.startswith("[") and host.endswith("]"):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _Refused(problem) from None
        if address.scope_id:
            raise _Refused(problem)
        return f"[{address}]:{int(port)}"
    try:
        return f"{ipaddress.IPv4Address(host)}:{int(port)}"
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host) or host.replace(".", "").isdigit():
        raise _Refused(problem)
    return f"{host}:{int(port)}"


def _is_wireguard_key(value: str) -> bool:
    if len(value) != 44:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


# --- local state -------------------------------------------------------------------------------


def _read_config(config: Path) -> str | None:
    try:
        text = config.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EnrollmentError(f"cannot read {config}: {exc.strerror}") from exc
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnrollmentError(f"{config}: not valid TOML: {exc}") from exc
    return text


def _state_dir(config: Path, existing: str | None) -> Path:
    """The config's agent.state_dir (or its default); next to the config for a new one."""
    if existing is None:
        return config.parent.resolve()
    agent = tomllib.loads(existing).get("agent", {})
    default = next(f.default for f in fields(AgentSettings) if f.name == "state_dir")
    value = agent.get("state_dir", default) if isinstance(agent, dict) else default
    if not isinstance(value, str) or not value:
        raise EnrollmentError(f"{config}: agent.state_dir must be a path")
    return Path(value)


def _device_key(state_dir: Path) -> str:
    """The box's stable identity: made once, kept forever."""
    path = state_dir / "device_key"
    return _read_or_create(path, lambda: secrets.token_urlsafe(32))


def _wireguard_keys(state_dir: Path) -> tuple[str, str]:
    """(private, public) WireGuard keys, base64; the private key is made here once."""
    path = state_dir / "wg_private_key"

    def new_key() -> str:
        raw = X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw).decode()

    private = _read_or_create(path, new_key)
    try:
        key = X25519PrivateKey.from_private_bytes(base64.b64decode(private, validate=True))
    except ValueError as exc:
        raise EnrollmentError(f"{path}: not a WireGuard private key") from exc
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, base64.b64encode(public).decode()


def _read_or_create(path: Path, make: Any) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise EnrollmentError(f"{path} is empty; remove it to make a new one") from None
        return value
    except OSError as exc:
        raise EnrollmentError(f"cannot create {path}: {exc.strerror}") from exc
    value = make()
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(value + "\n")
        file.flush()
        os.fsync(file.fileno())
    return value


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise EnrollmentError(f"cannot write {path}: {exc.strerror}") from exc
    os.chmod(path, 0o600)


# --- config text -------------------------------------------------------------------------------


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _new_config(site: str | None, state_dir: Path) -> str:
    return (
        "# ispfleet agent configuration, written by `ispfleet-agent enroll`.\n"
        "# Every key is documented in deploy/agent.example.toml.\n"
        "\n"
        "[agent]\n"
        f"site = {_toml_string(site or 'site')}\n"
        f"state_dir = {_toml_string(str(state_dir))}\n"
        "\n"
        "# Add one [[routers]] table per MikroTik router of this site, for example:\n"
        "# [[routers]]\n"
        '# name = "main"\n'
        '# host = "192.168.88.1"\n'
        '# username = "ispfleet"\n'
        '# password = "..."\n'
    )


def _with_hub_section(
    existing: str | None, *, url: str, credential: str, site: Any, state_dir: Path
) -> str:
    """The config text with [hub] url and credential set; other lines untouched."""
    text = (
        existing
        if existing is not None
        else _new_config(site if isinstance(site, str) else None, state_dir)
    )
    values = {"url": _toml_string(url), "credential": _toml_string(credential)}
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _is_hub_header(line)), None)
    if start is None:
        if text and not text.endswith("\n"):
            text += "\n"
        body = "".join(f"{key} = {value}\n" for key, value in values.items())
        return f"{text}\n[hub]\n{body}"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    if not lines[start].endswith("\n"):
        lines[start] += "\n"
    section = lines[start + 1 : end]
    for key, value in values.items():
        pattern = re.compile(rf"^\s*{key}\s*=")
        at = next((i for i, line in enumerate(section) if pattern.match(line)), None)
        line = f"{key} = {value}\n"
        if at is None:
            section.insert(0, line)
        else:
            section[at] = line
    result = "".join([*lines[: start + 1], *section, *lines[end:]])
    parsed = tomllib.loads(result).get("hub", {})
    if parsed.get("url") != url or parsed.get("credential") != credential:
        raise EnrollmentError("cannot update the [hub] section of the config safely")
    return result


def _is_hub_header(line: str) -> bool:
    match = _HEADER.match(line)
    return bool(match and match.group(1) == "hub")


def _wireguard_config(private_key: str, wireguard: WireGuardAnswer) -> str:
    """The wg-quick file, every value rendered from a parsed one (one line each, no more)."""
    return (
        "# WireGuard tunnel to the ispfleet hub, written by `ispfleet-agent enroll`.\n"
        "# Bring it up with: wg-quick up ./wg-ispfleet.conf\n"
        "[Interface]\n"
        f"PrivateKey = {private_key}\n"
        f"Address = {', '.join(str(address) for address in wireguard.addresses)}\n"
        "\n"
        "[Peer]\n"
        f"PublicKey = {wireguard.hub_public_key}\n"
        f"Endpoint = {wireguard.endpoint}\n"
        f"AllowedIPs = {', '.join(str(network) for network in wireguard.allowed_ips)}\n"
        f"PersistentKeepalive = {wireguard.persistent_keepalive}\n"
    )
