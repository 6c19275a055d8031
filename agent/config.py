"""The agent's configuration: ``/etc/ispfleet/agent.toml`` loaded into dataclasses.

Sections ``[agent]``, ``[hub]`` and ``[[routers]]``; every key is documented in
``deploy/agent.example.toml``. Loading goes through ``common.config`` (unknown keys and
wrong types are refused with the file and dotted key named); the checks that need more
than one key live here and raise the same ``ConfigError``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from common.config import ConfigError, load_config, load_config_file

DEFAULT_CONFIG_PATH = "/etc/ispfleet/agent.toml"
CONFIG_ENV = "ISPFLEET_AGENT_CONFIG"
API_PORT = 8728
API_SSL_PORT = 8729


@dataclass(slots=True)
class AgentSettings:
    site: str
    state_dir: str = "/var/lib/ispfleet-agent"
    metrics_listen: str = "127.0.0.1:9617"
    reconcile_interval: float = 30.0
    counters_interval: float = 5.0
    # A session whose bytes (in + out) moved by at most this since the hub was last told, with
    # nothing else changed, is not reported (no session.updated, no cache write): at 5,000
    # sessions a report per session per cycle was most of the agent's CPU. 0 reports every move.
    counters_step_bytes: int = 256 * 1024
    # Likewise for idle time (seconds): a change of idle time alone counts past this step.
    counters_step_idle: float = 60.0
    health_interval: float = 15.0
    expiry_check_interval: float = 1.0
    drift_interval: float = 60.0
    outbox_max_rows: int = 200_000
    startup_jitter: float = 5.0
    log_level: str = "INFO"

    @property
    def metrics_address(self) -> tuple[str, int]:
        """``metrics_listen`` split into host and port."""
        return split_listen(self.metrics_listen)

    @property
    def db_path(self) -> Path:
        return Path(self.state_dir) / "agent.db"


@dataclass(slots=True)
class HubSettings:
    url: str | None = None
    credential: str | None = field(default=None, repr=False)  # secret: kept out of logs
    heartbeat: float = 15.0
    batch_size: int = 500
    # Largest link frame this agent sends (bytes): events and snapshots are split to stay under
    # it. Keep it at or below the hub's max_frame_bytes (8 MiB by default).
    max_frame_bytes: int = 4 * 1024 * 1024
    backoff_min: float = 2.0
    backoff_max: float = 15.0


@dataclass(slots=True)
class RouterSettings:
    name: str
    host: str
    port: int | None = None
    username: str = "admin"
    password: str = field(default="", repr=False)  # secret: kept out of logs
    tls: bool = False
    tls_verify: bool = True
    connect_timeout: float = 10.0
    command_timeout: float = 5.0
    listen_timeout: float = 60.0
    backoff_min: float = 1.0
    backoff_max: float = 30.0
    # Billing-managed: hotspot sessions without live paid access are cut (agent/billing.py).
    billing: bool = False
    billing_exempt_users: list[str] = field(default_factory=list)
    billing_exempt_profiles: list[str] = field(default_factory=list)

    @property
    def api_port(self) -> int:
        """The configured port, else 8728 (8729 with TLS)."""
        if self.port is not None:
            return self.port
        return API_SSL_PORT if self.tls else API_PORT

    @property
    def address(self) -> str:
        return f"{self.host}:{self.api_port}"


@dataclass(slots=True)
class AgentConfig:
    agent: AgentSettings
    hub: HubSettings = field(default_factory=HubSettings)
    routers: list[RouterSettings] = field(default_factory=list)


def split_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:9617"`` -> ``("127.0.0.1", 9617)``; ValueError on anything else."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def validate(config: AgentConfig, source: str = "config") -> AgentConfig:
    """Checks spanning several keys; raises ConfigError naming the key."""
    if not config.agent.site.strip():
        raise ConfigError(f"{source}: agent.site: must not be empty")
    try:
        config.agent.metrics_address  # noqa: B018 - parse to validate
    except ValueError as exc:
        raise ConfigError(f"{source}: agent.metrics_listen: {exc}") from None
    for key in (
        "reconcile_interval",
        "counters_interval",
        "health_interval",
        "expiry_check_interval",
        "drift_interval",
    ):
        if getattr(config.agent, key) <= 0:
            raise ConfigError(f"{source}: agent.{key}: must be greater than 0")
    if config.agent.outbox_max_rows < 100:
        raise ConfigError(f"{source}: agent.outbox_max_rows: must be at least 100")
    for key in ("startup_jitter", "counters_step_bytes", "counters_step_idle"):
        if getattr(config.agent, key) < 0:
            raise ConfigError(f"{source}: agent.{key}: must not be negative")
    if not config.routers and not config.hub.url:
        # With a hub, routers may come from it alone (devices created through /v1).
        raise ConfigError(
            f"{source}: routers: at least one [[routers]] entry is required without a hub"
        )
    seen: set[str] = set()
    for index, router in enumerate(config.routers):
        where = f"{source}: routers[{index}]"
        if not router.name.strip():
            raise ConfigError(f"{where}.name: must not be empty")
        if router.name in seen:
            raise ConfigError(f"{where}.name: duplicate router name {router.name!r}")
        seen.add(router.name)
        if not router.host.strip():
            raise ConfigError(f"{where}.host: must not be empty")
        if router.port is not None and not 0 < router.port < 65536:
            raise ConfigError(f"{where}.port: must be between 1 and 65535")
        for key in ("connect_timeout", "command_timeout", "listen_timeout", "backoff_min"):
            if getattr(router, key) <= 0:
                raise ConfigError(f"{where}.{key}: must be greater than 0")
        if router.backoff_max < router.backoff_min:
            raise ConfigError(f"{where}.backoff_max: must not be below backoff_min")
        for key in ("billing_exempt_users", "billing_exempt_profiles"):
            if any(not name.strip() for name in getattr(router, key)):
                raise ConfigError(f"{where}.{key}: names must not be empty")
    return config


def parse_agent_config(data: dict, source: str = "config") -> AgentConfig:
    """A config from an already parsed TOML mapping."""
    return validate(load_config(AgentConfig, data, source), source)


def load_agent_config(path: str | os.PathLike[str]) -> AgentConfig:
    """Read and validate a TOML file; ConfigError (a ValueError) names the file and key."""
    return validate(load_config_file(AgentConfig, path), str(path))


def default_config_path() -> str:
    return os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH
