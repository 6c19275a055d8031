"""Hub settings: a TOML file (optional) overlaid by environment variables.

The file's top-level keys are the fields of HubConfig (``[wireguard]`` and ``[mpesa]`` tables);
see deploy/hub.example.toml. Environment variables win over the file:

    DATABASE_URL              database_url (unset: embedded Postgres in data_dir/pgdata)
    ISPFLEET_HUB_CONFIG       the file, when --config is not given
    ISPFLEET_HUB_LISTEN       "host:port" to listen on
    ISPFLEET_HUB_DATA_DIR     data_dir
    ISPFLEET_HUB_PUBLIC_URL   public_url
    ISPFLEET_HUB_INSTANCE     instance_name
    ISPFLEET_HUB_METRICS_TOKEN  metrics_token
    ISPFLEET_HUB_JWT_SECRET   jwt_secret
    ISPFLEET_HUB_SECRETS_KEY  secrets_key
    ISPFLEET_HUB_MPESA_CONSUMER_SECRET, ISPFLEET_HUB_MPESA_PASSKEY  mpesa secrets
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
class MpesaConfig:
    """Safaricom Daraja (STK push) credentials of the platform's paybill or till; without a
    consumer key, mobile money is off (STK push answers 503)."""

    base_url: str = "https://sandbox.safaricom.co.ke"
    consumer_key: str | None = None
    consumer_secret: str | None = field(default=None, repr=False)
    shortcode: str | None = None
    passkey: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.consumer_key and self.consumer_secret and self.shortcode and self.passkey)


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
    # the agent is gone (its commands fail with 503 at once): a silent agent is known in <= 1.5x
    # (3 s). Sites behind links whose round trip can pass half of it (satellite) want more.
    link_heartbeat: float = 2.0
    # Largest agent link frame accepted (bytes); a 5,000-session snapshot is about 1.2 MB.
    max_frame_bytes: int = 8 * 1024 * 1024
    # A hub process renews its lease this often; agents it holds read offline once its lease
    # (instance_lease seconds since the last renewal) runs out: a crashed hub's agents in ~6 s.
    instance_heartbeat: float = 2.0
    instance_lease: float = 6.0
    max_routers_per_agent: int = 64  # a hello naming more is refused (the link closes, 1008)
    # A hello that would give the tenant more live routers is refused too (1008); 0: no limit.
    max_routers_per_tenant: int = 1000
    agent_offline_after: float = 45.0  # silence after which an agent's routers show offline
    # Per API key, one token bucket shared by every hub process (Postgres): sized so the seeds'
    # clients (bulkDisconnect at 300 ms pacing, a dashboard loading 50+ locations at once)
    # never see a 429.
    rate_limit_per_minute: int = 600
    rate_limit_burst: int = 120
    # Before any credentials are checked: unauthenticated and failed requests per client
    # address (in process, no database work), and lockout after repeated failed logins (per
    # address and per account), doubling from login_lockout_seconds up to login_lockout_max.
    auth_failures_per_minute: int = 60
    auth_failure_burst: int = 20
    login_lockout_after: int = 5
    login_lockout_seconds: float = 2.0
    login_lockout_max: float = 900.0
    # Peers (addresses or CIDR networks) whose X-Forwarded-For names the client: a reverse proxy.
    trusted_proxies: list[str] = field(default_factory=list)
    admin_token_hours: float = 12.0  # lifetime of a platform admin's bearer token
    # Dashboard access tokens (JWT, HS256): signed with jwt_secret; unset, a key generated into
    # data_dir/jwt.key on first start. Hub processes on several hosts must share one: set it.
    jwt_secret: str | None = field(default=None, repr=False)
    # Router API and customer PPP passwords are sealed (AES-256-GCM) with this key: base64 of
    # 32 bytes; unset, one generated into data_dir/secrets.key. Several hosts must share one.
    secrets_key: str | None = field(default=None, repr=False)
    access_token_minutes: float = 15.0
    refresh_token_days: float = 30.0  # a /v1 login lasts this long, its refresh token rotating
    # A dashboard sign-in (its HttpOnly session cookie, one login family) lasts this long.
    dashboard_session_hours: float = 12.0
    # POST /v1/auth/register: off unless enabled; a registered user is a viewer of no tenant.
    registration_enabled: bool = False
    metrics_refresh_interval: float = 5.0  # seconds between /metrics snapshots of router state
    # Bearer token of the platform scrape (GET /metrics). None: /metrics is served only to
    # loopback clients of a hub listening on loopback. Kept out of repr.
    metrics_token: str | None = field(default=None, repr=False)
    # Origins whose pages may call /api/ from a browser (CORS); "*" any. Bearer keys, no cookies.
    cors_origins: list[str] = field(default_factory=lambda: ["*"])
    cors_max_age: int = 600  # seconds a browser may cache a preflight answer
    # Background tasks (hub/supervisor.py): a dead task is restarted after a back-off doubling
    # from supervisor_backoff_initial to supervisor_backoff_max seconds; after
    # supervisor_max_failures failures in a row the hub stops (exit 1) for systemd to restart.
    supervisor_backoff_initial: float = 1.0
    supervisor_backoff_max: float = 60.0
    supervisor_max_failures: int = 10
    # Retention, in days to keep (0: forever); a supervised task prunes every retention_interval
    # seconds. session_history goes by whole months (dropped partitions), created ahead.
    retention_interval: float = 3600.0
    session_history_retention_days: int = 400
    session_history_months_ahead: int = 2
    site_events_retention_days: int = 90
    commands_retention_days: int = 30  # finished commands only
    audit_log_retention_days: int = 730
    wireguard: WireGuardConfig = field(default_factory=WireGuardConfig)
    mpesa: MpesaConfig = field(default_factory=MpesaConfig)
    # A mobile-money payment with no callback this many seconds after it started is asked
    # about (STK status query; lost callbacks are common); still pending after
    # payment_expire_after it is expired. The settler looks every payment_settle_interval.
    payment_query_after: float = 60.0
    payment_expire_after: float = 600.0
    payment_settle_interval: float = 15.0
    # The captive portal (public, /hotspot/<tenant>): per hub process, in memory. A site's
    # clients usually reach the hub behind one NAT address, so the per-address budget is a
    # site's, sized for a busy hotspot; a phone gets a few prompts a minute (a retry after a
    # cancel, not a flood of prompts on someone else's handset); a payment's status is polled
    # every couple of seconds by the one browser holding its token.
    captive_pushes_per_minute: int = 60
    captive_push_burst: int = 30
    captive_phone_pushes_per_minute: int = 3
    captive_phone_push_burst: int = 3
    captive_polls_per_minute: int = 120
    captive_poll_burst: int = 40


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
        ("ISPFLEET_HUB_JWT_SECRET", "jwt_secret"),
        ("ISPFLEET_HUB_SECRETS_KEY", "secrets_key"),
        ("ISPFLEET_HUB_PUBLIC_URL", "public_url"),
        ("ISPFLEET_HUB_INSTANCE", "instance_name"),
        ("ISPFLEET_HUB_METRICS_TOKEN", "metrics_token"),
    ):
        if value := environ.get(name):
            changes[key] = value
    mpesa_secrets = {
        key: value
        for name, key in (
            ("ISPFLEET_HUB_MPESA_CONSUMER_SECRET", "consumer_secret"),
            ("ISPFLEET_HUB_MPESA_PASSKEY", "passkey"),
        )
        if (value := environ.get(name))
    }
    if mpesa_secrets:
        changes["mpesa"] = dataclasses.replace(config.mpesa, **mpesa_secrets)
    return dataclasses.replace(config, **changes)


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"ISPFLEET_HUB_LISTEN: expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def public_url(config: HubConfig) -> str:
    """The URL agents and the enroll command use to reach this hub."""
    return config.public_url or f"http://{config.listen_host}:{config.listen_port}"
