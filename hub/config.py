"""Hub settings: a TOML file (optional) overlaid by environment variables."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class WireGuardConfig:
    """What enrollment hands an agent so it can bring up its tunnel to the hub."""

    endpoint: str | None = None  # hub's public "host:port"; None: no WireGuard section in replies
    public_key: str | None = None  # hub's WireGuard public key
    network: str = "10.99.0.0/24"  # agents get addresses from here
    hub_address: str = "10.99.0.1"


@dataclass(slots=True)
class HubConfig:
    database_url: str | None = None  # None: embedded Postgres in data_dir/pgdata
    data_dir: str = "var/hub"
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    public_url: str | None = None  # the URL agents dial; default http://listen_host:listen_port
    instance_name: str | None = None  # default "<hostname>-<pid>"
    command_timeout: float = 10.0  # seconds a portal request waits for an agent's result
    enrollment_ttl_hours: float = 24.0
    agent_heartbeat: float = 15.0  # WebSocket ping interval
    agent_offline_after: float = 45.0  # silence after which an agent's routers show offline
    rate_limit_per_minute: int = 120  # per API key, token bucket
    rate_limit_burst: int = 30
    wireguard: WireGuardConfig = field(default_factory=WireGuardConfig)
