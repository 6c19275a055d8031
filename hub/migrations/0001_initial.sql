-- ispfleet hub schema, version 1.
-- Tenants own everything; every query that serves a tenant filters by tenant_id.

CREATE TABLE tenants (
    id              bigserial PRIMARY KEY,
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name            text NOT NULL,
    default_country text NOT NULL DEFAULT 'TZ',   -- for phone numbers without a country code
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Tenant API keys: shown once, stored as sha256 of the whole key; prefix finds the row.
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL UNIQUE,
    key_hash     bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Dashboard users; tenant_id NULL with role platform_admin is a platform administrator.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    tenant_id     bigint REFERENCES tenants ON DELETE CASCADE,
    email         text NOT NULL UNIQUE,
    password_hash text NOT NULL,                  -- argon2id
    role          text NOT NULL CHECK (role IN ('platform_admin', 'owner', 'admin', 'operator', 'viewer')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz,
    CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);

-- One agent per site. Enrollment token and credential are stored as sha256 hashes.
CREATE TABLE agents (
    id                    bigserial PRIMARY KEY,
    tenant_id             bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    site                  text NOT NULL,
    enrollment_token_hash bytea UNIQUE,
    enrollment_expires_at timestamptz,
    credential_hash       bytea UNIQUE,
    device_key            text,                   -- stable key of the box: a re-flashed box keeps its site
    hostname              text,
    agent_version         text,
    wg_address            text,                   -- the agent's WireGuard address, e.g. 10.99.0.12/32
    connected             boolean NOT NULL DEFAULT false,
    hub_instance          text,                   -- the hub process that holds its link
    last_seen_at          timestamptz,
    last_seq              bigint NOT NULL DEFAULT 0,  -- highest event seq stored: dedup and resume
    snapshot_seq          bigint NOT NULL DEFAULT 0,  -- events <= this are history only
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, site)
);

CREATE TABLE routers (
    id         bigserial PRIMARY KEY,
    tenant_id  bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    agent_id   bigint NOT NULL REFERENCES agents ON DELETE CASCADE,
    name       text NOT NULL,                     -- the agent's name for it (its key in agent.toml)
    host       text NOT NULL,
    port       integer NOT NULL DEFAULT 8728,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agent_id, name)
);
CREATE INDEX routers_tenant ON routers (tenant_id);

-- Latest health per router, as the agent last reported it.
CREATE TABLE router_health (
    router_id      bigint PRIMARY KEY REFERENCES routers ON DELETE CASCADE,
    status         text NOT NULL CHECK (status IN ('online', 'offline')),
    since          timestamptz,
    error          text,
    identity       text,
    version        text,
    board_name     text,
    cpu_load       integer,
    free_memory    bigint,
    total_memory   bigint,
    uptime_seconds bigint,
    hotspot_active integer,
    ppp_active     integer,
    reported_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE current_sessions (
    router_id      bigint NOT NULL REFERENCES routers ON DELETE CASCADE,
    session_id     text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('hotspot', 'ppp')),
    username       text NOT NULL,
    mac_address    text,
    ip_address     text,
    uptime_seconds bigint NOT NULL DEFAULT 0,
    idle_seconds   bigint,
    bytes_in       bigint NOT NULL DEFAULT 0,
    bytes_out      bigint NOT NULL DEFAULT 0,
    login_by       text,
    server         text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (router_id, session_id)
);
CREATE INDEX current_sessions_username ON current_sessions (router_id, username);

CREATE TABLE session_history (
    id             bigserial PRIMARY KEY,
    router_id      bigint NOT NULL REFERENCES routers ON DELETE CASCADE,
    session_id     text NOT NULL,
    kind           text NOT NULL,
    username       text NOT NULL,
    mac_address    text,
    ip_address     text,
    uptime_seconds bigint NOT NULL,
    bytes_in       bigint NOT NULL,
    bytes_out      bigint NOT NULL,
    ended_at       timestamptz NOT NULL
);
CREATE INDEX session_history_router_user ON session_history (router_id, username, ended_at);

-- Notable agent events kept for operators (router up/down, enforcement, drift repairs, thinning).
CREATE TABLE site_events (
    agent_id  bigint NOT NULL REFERENCES agents ON DELETE CASCADE,
    seq       bigint NOT NULL,
    router_id bigint REFERENCES routers ON DELETE SET NULL,
    kind      text NOT NULL,
    ts        timestamptz NOT NULL,
    data      jsonb NOT NULL,
    PRIMARY KEY (agent_id, seq)
);

CREATE TABLE customers (
    id         bigserial PRIMARY KEY,
    tenant_id  bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    username   text NOT NULL,                     -- E.164 phone for phone users, else the hotspot name
    full_name  text,
    email      text,
    is_active  boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, username)
);

CREATE TABLE entitlements (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    router_id   bigint REFERENCES routers ON DELETE CASCADE,  -- NULL: every router of the tenant
    mac_address text,
    profile     text,
    rate_limit  text,
    on_expiry   text NOT NULL DEFAULT 'cut' CHECK (on_expiry IN ('cut', 'throttle')),
    starts_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at > starts_at)
);
CREATE INDEX entitlements_customer ON entitlements (customer_id, expires_at);

CREATE TABLE commands (
    id           uuid PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    agent_id     bigint NOT NULL REFERENCES agents ON DELETE CASCADE,
    router_id    bigint REFERENCES routers ON DELETE SET NULL,
    name         text NOT NULL,
    args         jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'sent', 'done', 'failed', 'expired')),
    result       jsonb,
    error        text,
    requested_by text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    completed_at timestamptz,
    deadline     timestamptz NOT NULL
);
CREATE INDEX commands_pending ON commands (agent_id, status) WHERE status IN ('pending', 'sent');

-- Every state-changing action: who, tenant, router, what, result.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,                      -- "api_key:<prefix>", "user:<email>", "cli", "agent:<id>"
    tenant_id bigint REFERENCES tenants ON DELETE SET NULL,
    router_id bigint REFERENCES routers ON DELETE SET NULL,
    action    text NOT NULL,
    target    text,
    params    jsonb NOT NULL DEFAULT '{}',
    result    text NOT NULL,                      -- "ok" | "failed" | "denied" | ...
    details   jsonb
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);
