"""``ispfleet-agent enroll``: trade a one-time enrollment token for the agent's credential.

The box keeps a stable device key (``<state_dir>/device_key``, made once) so a re-flashed box is
recognised as the same site, and a WireGuard keypair (``<state_dir>/wg_private_key``): the
private key never leaves the box, only its public half goes to the hub. The hub's answer is
written into the config's ``[hub]`` section (url, credential); everything else in the file
stays byte-for-byte. With a ``wireguard`` section in the answer, ``wg-ispfleet.conf`` is written
beside the config.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

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


class EnrollmentError(AgentError, ValueError):
    """Enrollment failed (bad token, unreachable hub, bad arguments); the config is unchanged."""


async def enroll(hub_url: str, token: str, config_path: str) -> dict[str, Any]:
    """Enroll this box with the hub and write its config; returns what was done.

    The result names the agent, site, tenant, hub URL and the files written; the credential
    itself is only in the config file (mode 0600).
    """
    hub_url = hub_url.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", hub_url):
        raise EnrollmentError(f"hub URL must start with http:// or https://, got {hub_url!r}")
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
    url = reply.get("hub_url") or hub_url
    credential = reply.get("credential")
    if not isinstance(credential, str) or not credential:
        raise EnrollmentError("the hub's answer has no credential")

    written = [str(config)]
    text = _with_hub_section(
        existing, url=url, credential=credential, site=reply.get("site"), state_dir=state_dir
    )
    _write_private(config, text)
    wireguard = reply.get("wireguard")
    wg_path = None
    if isinstance(wireguard, dict):
        wg_path = config.parent / WIREGUARD_CONFIG
        _write_private(wg_path, _wireguard_config(wg_private, wireguard))
        written.append(str(wg_path))
    return {
        "agent_id": reply.get("agent_id"),
        "site": reply.get("site"),
        "tenant": reply.get("tenant"),
        "hub_url": url,
        "config_path": str(config),
        "wireguard_config": str(wg_path) if wg_path else None,
        "written": written,
    }


async def _post_enrollment(hub_url: str, body: dict[str, Any]) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(hub_url + wire.ENROLL_PATH, json=body) as response,
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


def _wireguard_config(private_key: str, wireguard: dict[str, Any]) -> str:
    return (
        "# WireGuard tunnel to the ispfleet hub, written by `ispfleet-agent enroll`.\n"
        "# Bring it up with: wg-quick up ./wg-ispfleet.conf\n"
        "[Interface]\n"
        f"PrivateKey = {private_key}\n"
        f"Address = {wireguard.get('address')}\n"
        "\n"
        "[Peer]\n"
        f"PublicKey = {wireguard.get('hub_public_key')}\n"
        f"Endpoint = {wireguard.get('endpoint')}\n"
        f"AllowedIPs = {wireguard.get('allowed_ips')}\n"
        f"PersistentKeepalive = {wireguard.get('persistent_keepalive', 25)}\n"
    )
