"""Hub settings: a TOML file (optional) overlaid by environment variables.

The file's top-level keys are the fields of HubConfig (a ``[wireguard]`` table for its own);
see deploy/hub.example.toml. Environment variables win over the file:

    DATABASE_URL              database_url (unset: embedded Postgres in data_dir/pgdata)
    ISPFLEET_HUB_CONFIG       the file, when --config is not given
    ISPFLEET_HUB_LISTEN       "host:port" to listen on
    ISPFLEET_HUB_DATA_DIR     data_dir
    ISPFLEET_HUB_PUBLIC_URL   public_url
    ISPFLEET_HUB_INSTANCE     instance_name
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from common.config import ConfigError, load_config_file


@dataclass(slots=True)
class WireGuardConfig:
    """What enrollment hands an agent so it can bring up its tunnel to the hub."""

    endpoint: str | None = None  # hub's public "host:port"; None: no WireGuard section in replies
    public_key: str | None = None  # hub's WireGuard public key
    network: str = "10.99.0.0/24"  # agents get addresses from here
    hub_address: str = "10.99.0.1"


@dataclass(slots=True)
class HubConfig:
    # None: embedded Postgres in data_dir/pgdata; may carry a password, so kept out of repr
    database_url: str | None = field(default=None, repr=False)
    data_dir: str = "var/hub"
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    public_url: str | None = None  # the URL agents dial; default http://listen_host:listen_port
    instance_name: str | None = None  # default "<hostname>-<pid>"
    command_timeout: float = 10.0  # seconds a portal request waits for an agent's result
    enrollment_ttl_hours: float = 24.0
    agent_heartbeat: float = 15.0  # presence heartbeat and command sweep interval, seconds
    # Agent link WebSocket ping after this many silent seconds; no pong within half of it and
    # the agent is gone (its commands fail with 503 at once): a silent agent is known in <= 1.5x.
    link_heartbeat: float = 1.5
    # Largest agent link frame accepted (bytes); a 5,000-session snapshot is about 1.2 MB.
    max_frame_bytes: int = 8 * 1024 * 1024
    # A hub process renews its lease this often; agents it holds read offline once its lease
    # (instance_lease seconds since the last renewal) runs out: a crashed hub's agents in ~6 s.
    instance_heartbeat: float = 2.0
    instance_lease: float = 6.0
    max_routers_per_agent: int = 64  # a hello naming more is refused (the link closes, 1008)
    agent_offline_after: float = 45.0  # silence after which an agent's routers show offline
    rate_limit_per_minute: int = 120  # per API key, token bucket
    rate_limit_burst: int = 30
    admin_token_hours: float = 12.0  # lifetime of a platform admin's bearer token
    metrics_refresh_interval: float = 5.0  # seconds between /metrics snapshots of router state
    wireguard: WireGuardConfig = field(default_factory=WireGuardConfig)


def load_hub_config(path: str | None, environ: Mapping[str, str]) -> HubConfig:
    """HubConfig from ``path`` (or $ISPFLEET_HUB_CONFIG, or defaults), then the environment."""
    path = path or environ.get("ISPFLEET_HUB_CONFIG") or None
    config = load_config_file(HubConfig, path) if path else HubConfig()
    changes: dict[str, object] = {}
    if url := environ.get("DATABASE_URL"):
        changes["database_url"] = url
    if listen := environ.get("ISPFLEET_HUB_LISTEN"):
        changes["listen_host"], changes["listen_port"] = _parse_listen(listen)
    for name, key in (
        ("ISPFLEET_HUB_DATA_DIR", "data_dir"),
        ("ISPFLEET_HUB_PUBLIC_URL", "public_url"),
        ("ISPFLEET_HUB_INSTANCE", "instance_name"),
    ):
        if value := environ.get(name):
            changes[key] = value
    return dataclasses.replace(config, **changes)


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"ISPFLEET_HUB_LISTEN: expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def public_url(config: HubConfig) -> str:
    """The URL agents and the enroll command use to reach this hub."""
    return config.public_url or f"http://{config.listen_host}:{config.listen_port}"
