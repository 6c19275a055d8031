-- The ispfleet hub schema as the migrations in hub/migrations/ produce it (pg_dump, schema only).
-- Generated, do not edit: python -m hub.schema > hub/schema.sql
-- Monthly partitions of session_history are left out; the retention task creates them.

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

CREATE FUNCTION public.bump_router_read_versions() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO router_read_versions AS v (router_id, version)
    SELECT DISTINCT router_id, 1 FROM changed_rows ORDER BY router_id
    ON CONFLICT (router_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION public.bump_tenant_read_versions() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO tenant_read_versions AS v (tenant_id, version)
    SELECT DISTINCT tenant_id, 1 FROM changed_rows ORDER BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION public.count_router_hotspot_users() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE router_health h
       SET hotspot_users = (SELECT count(*) FROM router_hotspot_users u
                             WHERE u.router_id = h.router_id)
     WHERE h.router_id IN (SELECT DISTINCT router_id FROM changed_rows);
    RETURN NULL;
END
$$;

CREATE FUNCTION public.enforce_router_revival_limit() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    limit_value integer;
    used integer;
BEGIN
    SELECT max_mikrotiks INTO limit_value FROM tenants WHERE id = NEW.tenant_id FOR UPDATE;
    IF limit_value IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT count(*) INTO used FROM routers
     WHERE tenant_id = NEW.tenant_id AND retired_at IS NULL;
    IF used >= limit_value THEN
        RAISE EXCEPTION 'Tenant limit reached: at most % router(s) (max_mikrotiks)', limit_value
            USING ERRCODE = 'IF409';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION public.enforce_tenant_limits() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    limit_value integer;
    used integer;
BEGIN
    IF TG_TABLE_NAME = 'routers' THEN
        SELECT max_mikrotiks INTO limit_value FROM tenants WHERE id = NEW.tenant_id;
    ELSE
        SELECT max_network_users INTO limit_value FROM tenants WHERE id = NEW.tenant_id;
    END IF;
    IF limit_value IS NULL THEN
        RETURN NEW;
    END IF;
    -- An upsert of a row that exists (INSERT ... ON CONFLICT DO UPDATE) adds nothing.
    IF TG_TABLE_NAME = 'routers' THEN
        PERFORM 1 FROM routers WHERE agent_id = NEW.agent_id AND name = NEW.name;
    ELSE
        PERFORM 1 FROM customers WHERE tenant_id = NEW.tenant_id AND username = NEW.username;
    END IF;
    IF FOUND THEN
        RETURN NEW;
    END IF;
    PERFORM 1 FROM tenants WHERE id = NEW.tenant_id FOR UPDATE;
    IF TG_TABLE_NAME = 'routers' THEN
        SELECT count(*) INTO used FROM routers
         WHERE tenant_id = NEW.tenant_id AND retired_at IS NULL;
        IF used >= limit_value THEN
            RAISE EXCEPTION 'Tenant limit reached: at most % router(s) (max_mikrotiks)', limit_value
                USING ERRCODE = 'IF409';
        END IF;
    ELSE
        SELECT count(*) INTO used FROM customers WHERE tenant_id = NEW.tenant_id;
        IF used >= limit_value THEN
            RAISE EXCEPTION 'Tenant limit reached: at most % customer(s) (max_network_users)',
                limit_value USING ERRCODE = 'IF409';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION public.entitlements_next_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE tenants SET entitlements_version = entitlements_version + 1
     WHERE id = NEW.tenant_id
    RETURNING entitlements_version INTO NEW.version;
    RETURN NEW;
END
$$;

CREATE FUNCTION public.vouchers_next_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    -- This transaction's version of the tenant, once taken (a transaction-local setting: a
    -- rolled-back savepoint forgets it together with its counter update).
    setting text := 'ispfleet.vouchers_version_' || NEW.tenant_id;
    taken text := current_setting(setting, true);
BEGIN
    IF taken IS NOT NULL AND taken <> '' THEN
        NEW.version := taken::bigint;
    ELSE
        UPDATE tenants SET vouchers_version = vouchers_version + 1
         WHERE id = NEW.tenant_id
        RETURNING vouchers_version INTO NEW.version;
        PERFORM set_config(setting, NEW.version::text, true);
    END IF;
    RETURN NEW;
END
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE public.admin_tokens (
    token_hash bytea NOT NULL,
    user_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE public.agents (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    site text NOT NULL,
    enrollment_token_hash bytea,
    enrollment_expires_at timestamp with time zone,
    credential_hash bytea,
    device_key text,
    hostname text,
    agent_version text,
    wg_address text,
    connected boolean DEFAULT false NOT NULL,
    hub_instance text,
    last_seen_at timestamp with time zone,
    last_seq bigint DEFAULT 0 NOT NULL,
    snapshot_seq bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    wg_public_key text
);

CREATE SEQUENCE public.agents_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.agents_id_seq OWNED BY public.agents.id;

CREATE TABLE public.api_keys (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone
);

CREATE SEQUENCE public.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.api_keys_id_seq OWNED BY public.api_keys.id;

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    tenant_id bigint,
    router_id bigint,
    action text NOT NULL,
    target text,
    params jsonb DEFAULT '{}'::jsonb NOT NULL,
    result text NOT NULL,
    details jsonb
);

CREATE SEQUENCE public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.audit_log_id_seq OWNED BY public.audit_log.id;

CREATE TABLE public.billing_profiles (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    price numeric(14,2) NOT NULL,
    rate_limit text NOT NULL,
    local_address text,
    remote_address text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT billing_profiles_name_check CHECK (((length(name) >= 1) AND (length(name) <= 64))),
    CONSTRAINT billing_profiles_price_check CHECK ((price >= (0)::numeric)),
    CONSTRAINT billing_profiles_type_check CHECK ((type = ANY (ARRAY['pppoe'::text, 'hotspot'::text])))
);

CREATE SEQUENCE public.billing_profiles_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.billing_profiles_id_seq OWNED BY public.billing_profiles.id;

CREATE TABLE public.commands (
    id uuid NOT NULL,
    tenant_id bigint NOT NULL,
    agent_id bigint NOT NULL,
    router_id bigint,
    name text NOT NULL,
    args jsonb NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    result jsonb,
    error text,
    requested_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    completed_at timestamp with time zone,
    deadline timestamp with time zone NOT NULL,
    latency_ms double precision,
    CONSTRAINT commands_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'sent'::text, 'done'::text, 'failed'::text, 'expired'::text, 'lost'::text])))
);

CREATE TABLE public.current_sessions (
    router_id bigint NOT NULL,
    session_id text NOT NULL,
    kind text NOT NULL,
    username text NOT NULL,
    mac_address text,
    ip_address text,
    uptime_seconds bigint DEFAULT 0 NOT NULL,
    idle_seconds bigint,
    bytes_in bigint DEFAULT 0 NOT NULL,
    bytes_out bigint DEFAULT 0 NOT NULL,
    login_by text,
    server text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT current_sessions_kind_check CHECK ((kind = ANY (ARRAY['hotspot'::text, 'ppp'::text])))
);

CREATE TABLE public.customers (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    username text NOT NULL,
    full_name text,
    email text,
    is_active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    phone text,
    mac_address text,
    router_id bigint,
    plan_id bigint,
    password_sealed bytea,
    profile_id bigint,
    service_type text,
    billing_day smallint,
    service_router_id bigint,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT customers_billing_day_check CHECK (((billing_day >= 1) AND (billing_day <= 28))),
    CONSTRAINT customers_service_type_check CHECK ((service_type = ANY (ARRAY['pppoe'::text, 'hotspot'::text])))
);

CREATE SEQUENCE public.customers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.customers_id_seq OWNED BY public.customers.id;

CREATE TABLE public.entitlements (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    router_id bigint,
    mac_address text,
    profile text,
    rate_limit text,
    on_expiry text DEFAULT 'cut'::text NOT NULL,
    starts_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    version bigint DEFAULT 0 NOT NULL,
    plan_id bigint,
    CONSTRAINT entitlements_check CHECK ((expires_at > starts_at)),
    CONSTRAINT entitlements_on_expiry_check CHECK ((on_expiry = ANY (ARRAY['cut'::text, 'throttle'::text])))
);

CREATE SEQUENCE public.entitlements_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.entitlements_id_seq OWNED BY public.entitlements.id;

CREATE TABLE public.hub_instances (
    name text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    heartbeat_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE public.payments (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    plan_id bigint NOT NULL,
    router_id bigint,
    method text NOT NULL,
    provider text,
    status text DEFAULT 'pending'::text NOT NULL,
    amount numeric(14,2) NOT NULL,
    currency text NOT NULL,
    phone text,
    mac_address text,
    reference text,
    checkout_request_id text,
    merchant_request_id text,
    receipt text,
    result_code integer,
    result_desc text,
    voucher_id bigint,
    entitlement_id bigint,
    recorded_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT payments_amount_check CHECK ((amount > (0)::numeric)),
    CONSTRAINT payments_method_check CHECK ((method = ANY (ARRAY['mobile_money'::text, 'cash'::text, 'voucher'::text]))),
    CONSTRAINT payments_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'completed'::text, 'failed'::text, 'expired'::text])))
);

CREATE SEQUENCE public.payments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.payments_id_seq OWNED BY public.payments.id;

CREATE TABLE public.plans (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    name text NOT NULL,
    price numeric(14,2) NOT NULL,
    duration_value integer NOT NULL,
    duration_unit text NOT NULL,
    download_speed text NOT NULL,
    upload_speed text NOT NULL,
    connection_type text NOT NULL,
    router_profile text,
    on_expiry text DEFAULT 'cut'::text NOT NULL,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    CONSTRAINT plans_connection_type_check CHECK ((connection_type = ANY (ARRAY['hotspot'::text, 'pppoe'::text]))),
    CONSTRAINT plans_duration_unit_check CHECK ((duration_unit = ANY (ARRAY['minutes'::text, 'hours'::text, 'days'::text]))),
    CONSTRAINT plans_duration_value_check CHECK ((duration_value >= 1)),
    CONSTRAINT plans_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT plans_on_expiry_check CHECK ((on_expiry = ANY (ARRAY['cut'::text, 'throttle'::text]))),
    CONSTRAINT plans_price_check CHECK ((price > (0)::numeric))
);

CREATE SEQUENCE public.plans_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.plans_id_seq OWNED BY public.plans.id;

CREATE TABLE public.ppp_callback_events (
    router_id bigint NOT NULL,
    session_id text NOT NULL,
    action text NOT NULL,
    username text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT ppp_callback_events_action_check CHECK ((action = ANY (ARRAY['up'::text, 'down'::text])))
);

CREATE UNLOGGED TABLE public.rate_buckets (
    key text NOT NULL,
    tokens double precision NOT NULL,
    updated_at double precision NOT NULL,
    granted boolean NOT NULL
);

CREATE TABLE public.refresh_tokens (
    token_hash bytea NOT NULL,
    family_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    rotated_at timestamp with time zone
);

CREATE TABLE public.router_callback_secrets (
    router_id bigint NOT NULL,
    secret_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.router_health (
    router_id bigint NOT NULL,
    status text NOT NULL,
    since timestamp with time zone,
    error text,
    identity text,
    version text,
    board_name text,
    cpu_load integer,
    free_memory bigint,
    total_memory bigint,
    uptime_seconds bigint,
    hotspot_active integer,
    ppp_active integer,
    reported_at timestamp with time zone DEFAULT now() NOT NULL,
    hotspot_users integer,
    CONSTRAINT router_health_status_check CHECK ((status = ANY (ARRAY['online'::text, 'offline'::text])))
);

CREATE TABLE public.router_hotspot_users (
    router_id bigint NOT NULL,
    name text NOT NULL,
    user_id text NOT NULL,
    profile text,
    disabled boolean DEFAULT false NOT NULL,
    comment text,
    limit_uptime_seconds bigint,
    mac_address text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.router_read_versions (
    router_id bigint NOT NULL,
    version bigint NOT NULL
);

CREATE TABLE public.routers (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    agent_id bigint NOT NULL,
    name text NOT NULL,
    host text NOT NULL,
    port integer DEFAULT 8728 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    retired_at timestamp with time zone,
    managed boolean DEFAULT false NOT NULL,
    api_username text,
    api_password_sealed bytea,
    tls boolean DEFAULT false NOT NULL,
    location text,
    status text DEFAULT 'active'::text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT routers_managed_credentials CHECK (((NOT managed) OR ((api_username IS NOT NULL) AND (api_password_sealed IS NOT NULL)))),
    CONSTRAINT routers_status_check CHECK ((status = ANY (ARRAY['active'::text, 'inactive'::text])))
);

CREATE SEQUENCE public.routers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.routers_id_seq OWNED BY public.routers.id;

CREATE TABLE public.schema_migrations (
    version text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.session_history (
    id bigint NOT NULL,
    router_id bigint NOT NULL,
    session_id text NOT NULL,
    kind text NOT NULL,
    username text NOT NULL,
    mac_address text,
    ip_address text,
    uptime_seconds bigint NOT NULL,
    bytes_in bigint NOT NULL,
    bytes_out bigint NOT NULL,
    ended_at timestamp with time zone NOT NULL
)
PARTITION BY RANGE (ended_at);

CREATE SEQUENCE public.session_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.session_history_id_seq OWNED BY public.session_history.id;

CREATE TABLE public.session_history_default (
    id bigint DEFAULT nextval('public.session_history_id_seq'::regclass) CONSTRAINT session_history_id_not_null NOT NULL,
    router_id bigint CONSTRAINT session_history_router_id_not_null NOT NULL,
    session_id text CONSTRAINT session_history_session_id_not_null NOT NULL,
    kind text CONSTRAINT session_history_kind_not_null NOT NULL,
    username text CONSTRAINT session_history_username_not_null NOT NULL,
    mac_address text,
    ip_address text,
    uptime_seconds bigint CONSTRAINT session_history_uptime_seconds_not_null NOT NULL,
    bytes_in bigint CONSTRAINT session_history_bytes_in_not_null NOT NULL,
    bytes_out bigint CONSTRAINT session_history_bytes_out_not_null NOT NULL,
    ended_at timestamp with time zone CONSTRAINT session_history_ended_at_not_null NOT NULL
);

CREATE TABLE public.site_events (
    agent_id bigint NOT NULL,
    seq bigint NOT NULL,
    router_id bigint,
    kind text NOT NULL,
    ts timestamp with time zone NOT NULL,
    data jsonb NOT NULL
);

CREATE TABLE public.stream_tickets (
    ticket_hash bytea NOT NULL,
    user_id bigint,
    family_id uuid,
    api_key_prefix text,
    tenant_id bigint,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT stream_tickets_check CHECK ((((user_id IS NOT NULL) AND (family_id IS NOT NULL)) <> (api_key_prefix IS NOT NULL)))
);

CREATE TABLE public.tenant_read_versions (
    tenant_id bigint NOT NULL,
    version bigint NOT NULL
);

CREATE TABLE public.tenants (
    id bigint NOT NULL,
    slug text NOT NULL,
    name text NOT NULL,
    default_country text DEFAULT 'TZ'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    entitlements_version bigint DEFAULT 0 NOT NULL,
    currency text DEFAULT 'KES'::text NOT NULL,
    timezone text DEFAULT 'Africa/Nairobi'::text NOT NULL,
    payment_callback_secret text,
    vouchers_version bigint DEFAULT 0 NOT NULL,
    company_name text,
    phone text,
    max_mikrotiks integer,
    max_network_users integer,
    features jsonb DEFAULT '{}'::jsonb NOT NULL,
    is_active boolean DEFAULT true NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    language text DEFAULT 'en'::text NOT NULL,
    CONSTRAINT tenants_currency_check CHECK ((currency ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT tenants_language_check CHECK ((language = ANY (ARRAY['en'::text, 'sw'::text]))),
    CONSTRAINT tenants_max_mikrotiks_check CHECK ((max_mikrotiks >= 0)),
    CONSTRAINT tenants_max_network_users_check CHECK ((max_network_users >= 0)),
    CONSTRAINT tenants_slug_check CHECK ((slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'::text))
);

CREATE SEQUENCE public.tenants_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.tenants_id_seq OWNED BY public.tenants.id;

CREATE TABLE public.token_families (
    id uuid NOT NULL,
    user_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    revoked_reason text,
    CONSTRAINT token_families_revoked_reason_check CHECK ((revoked_reason = ANY (ARRAY['logout'::text, 'reuse'::text, 'disabled'::text, 'password'::text])))
);

CREATE TABLE public.users (
    id bigint NOT NULL,
    tenant_id bigint,
    email text,
    password_hash text NOT NULL,
    role text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    disabled_at timestamp with time zone,
    username text,
    fullname text,
    phone text,
    active_router_id bigint,
    CONSTRAINT users_login CHECK (((email IS NOT NULL) OR (username IS NOT NULL))),
    CONSTRAINT users_platform_admin_has_no_tenant CHECK (((role <> 'platform_admin'::text) OR (tenant_id IS NULL))),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['platform_admin'::text, 'owner'::text, 'admin'::text, 'operator'::text, 'viewer'::text]))),
    CONSTRAINT users_username_check CHECK ((username ~ '^[a-z0-9][a-z0-9_.-]{1,63}$'::text))
);

CREATE SEQUENCE public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;

CREATE TABLE public.voucher_batches (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    plan_id bigint NOT NULL,
    router_id bigint,
    count integer NOT NULL,
    code_length integer NOT NULL,
    alphabet text NOT NULL,
    prefix text DEFAULT ''::text NOT NULL,
    price numeric(14,2) NOT NULL,
    valid_until timestamp with time zone NOT NULL,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    hotspot_login_url text,
    CONSTRAINT voucher_batches_code_length_check CHECK (((code_length >= 4) AND (code_length <= 32))),
    CONSTRAINT voucher_batches_count_check CHECK (((count >= 1) AND (count <= 5000))),
    CONSTRAINT voucher_batches_hotspot_login_url_check CHECK (((hotspot_login_url ~ '^https?://[^[:space:]]+$'::text) AND (length(hotspot_login_url) <= 255))),
    CONSTRAINT voucher_batches_price_check CHECK ((price > (0)::numeric))
);

CREATE SEQUENCE public.voucher_batches_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.voucher_batches_id_seq OWNED BY public.voucher_batches.id;

CREATE TABLE public.vouchers (
    id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    batch_id bigint NOT NULL,
    code text NOT NULL,
    status text DEFAULT 'unused'::text NOT NULL,
    mac_address text,
    router_id bigint,
    redeemed_at timestamp with time zone,
    expires_at timestamp with time zone,
    customer_id bigint,
    version bigint DEFAULT 0 NOT NULL,
    CONSTRAINT vouchers_status_check CHECK ((status = ANY (ARRAY['unused'::text, 'active'::text, 'expired'::text])))
);

CREATE SEQUENCE public.vouchers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.vouchers_id_seq OWNED BY public.vouchers.id;

ALTER TABLE ONLY public.session_history ATTACH PARTITION public.session_history_default DEFAULT;

ALTER TABLE ONLY public.agents ALTER COLUMN id SET DEFAULT nextval('public.agents_id_seq'::regclass);

ALTER TABLE ONLY public.api_keys ALTER COLUMN id SET DEFAULT nextval('public.api_keys_id_seq'::regclass);

ALTER TABLE ONLY public.audit_log ALTER COLUMN id SET DEFAULT nextval('public.audit_log_id_seq'::regclass);

ALTER TABLE ONLY public.billing_profiles ALTER COLUMN id SET DEFAULT nextval('public.billing_profiles_id_seq'::regclass);

ALTER TABLE ONLY public.customers ALTER COLUMN id SET DEFAULT nextval('public.customers_id_seq'::regclass);

ALTER TABLE ONLY public.entitlements ALTER COLUMN id SET DEFAULT nextval('public.entitlements_id_seq'::regclass);

ALTER TABLE ONLY public.payments ALTER COLUMN id SET DEFAULT nextval('public.payments_id_seq'::regclass);

ALTER TABLE ONLY public.plans ALTER COLUMN id SET DEFAULT nextval('public.plans_id_seq'::regclass);

ALTER TABLE ONLY public.routers ALTER COLUMN id SET DEFAULT nextval('public.routers_id_seq'::regclass);

ALTER TABLE ONLY public.session_history ALTER COLUMN id SET DEFAULT nextval('public.session_history_id_seq'::regclass);

ALTER TABLE ONLY public.tenants ALTER COLUMN id SET DEFAULT nextval('public.tenants_id_seq'::regclass);

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);

ALTER TABLE ONLY public.voucher_batches ALTER COLUMN id SET DEFAULT nextval('public.voucher_batches_id_seq'::regclass);

ALTER TABLE ONLY public.vouchers ALTER COLUMN id SET DEFAULT nextval('public.vouchers_id_seq'::regclass);

ALTER TABLE ONLY public.admin_tokens
    ADD CONSTRAINT admin_tokens_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_credential_hash_key UNIQUE (credential_hash);

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_enrollment_token_hash_key UNIQUE (enrollment_token_hash);

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_tenant_id_site_key UNIQUE (tenant_id, site);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_prefix_key UNIQUE (prefix);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.billing_profiles
    ADD CONSTRAINT billing_profiles_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.billing_profiles
    ADD CONSTRAINT billing_profiles_tenant_id_name_key UNIQUE (tenant_id, name);

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.current_sessions
    ADD CONSTRAINT current_sessions_pkey PRIMARY KEY (router_id, session_id);

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_tenant_id_username_key UNIQUE (tenant_id, username);

ALTER TABLE ONLY public.entitlements
    ADD CONSTRAINT entitlements_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.hub_instances
    ADD CONSTRAINT hub_instances_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_checkout_request_id_key UNIQUE (checkout_request_id);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_receipt_key UNIQUE (receipt);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_voucher_id_key UNIQUE (voucher_id);

ALTER TABLE ONLY public.plans
    ADD CONSTRAINT plans_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.ppp_callback_events
    ADD CONSTRAINT ppp_callback_events_pkey PRIMARY KEY (router_id, session_id, action);

ALTER TABLE ONLY public.rate_buckets
    ADD CONSTRAINT rate_buckets_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY public.router_callback_secrets
    ADD CONSTRAINT router_callback_secrets_pkey PRIMARY KEY (router_id);

ALTER TABLE ONLY public.router_callback_secrets
    ADD CONSTRAINT router_callback_secrets_secret_hash_key UNIQUE (secret_hash);

ALTER TABLE ONLY public.router_health
    ADD CONSTRAINT router_health_pkey PRIMARY KEY (router_id);

ALTER TABLE ONLY public.router_hotspot_users
    ADD CONSTRAINT router_hotspot_users_pkey PRIMARY KEY (router_id, name);

ALTER TABLE ONLY public.router_read_versions
    ADD CONSTRAINT router_read_versions_pkey PRIMARY KEY (router_id);

ALTER TABLE ONLY public.routers
    ADD CONSTRAINT routers_agent_id_name_key UNIQUE (agent_id, name);

ALTER TABLE ONLY public.routers
    ADD CONSTRAINT routers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.session_history
    ADD CONSTRAINT session_history_pkey PRIMARY KEY (id, ended_at);

ALTER TABLE ONLY public.session_history_default
    ADD CONSTRAINT session_history_default_pkey PRIMARY KEY (id, ended_at);

ALTER TABLE ONLY public.site_events
    ADD CONSTRAINT site_events_pkey PRIMARY KEY (agent_id, seq);

ALTER TABLE ONLY public.stream_tickets
    ADD CONSTRAINT stream_tickets_pkey PRIMARY KEY (ticket_hash);

ALTER TABLE ONLY public.tenant_read_versions
    ADD CONSTRAINT tenant_read_versions_pkey PRIMARY KEY (tenant_id);

ALTER TABLE ONLY public.tenants
    ADD CONSTRAINT tenants_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.tenants
    ADD CONSTRAINT tenants_slug_key UNIQUE (slug);

ALTER TABLE ONLY public.token_families
    ADD CONSTRAINT token_families_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.voucher_batches
    ADD CONSTRAINT voucher_batches_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.vouchers
    ADD CONSTRAINT vouchers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.vouchers
    ADD CONSTRAINT vouchers_tenant_id_code_key UNIQUE (tenant_id, code);

CREATE INDEX admin_tokens_expires ON public.admin_tokens USING btree (expires_at);

CREATE INDEX agents_hub_instance ON public.agents USING btree (hub_instance) WHERE connected;

CREATE UNIQUE INDEX agents_wg_address ON public.agents USING btree (wg_address) WHERE (wg_address IS NOT NULL);

CREATE INDEX audit_log_at ON public.audit_log USING btree (at);

CREATE INDEX audit_log_tenant_at ON public.audit_log USING btree (tenant_id, at);

CREATE INDEX commands_completed ON public.commands USING btree (completed_at) WHERE (completed_at IS NOT NULL);

CREATE INDEX commands_pending ON public.commands USING btree (agent_id, status) WHERE (status = ANY (ARRAY['pending'::text, 'sent'::text]));

CREATE INDEX current_sessions_user ON public.current_sessions USING btree (username);

CREATE INDEX current_sessions_username ON public.current_sessions USING btree (router_id, username);

CREATE INDEX customers_profile ON public.customers USING btree (profile_id) WHERE (profile_id IS NOT NULL);

CREATE INDEX customers_service_router ON public.customers USING btree (service_router_id) WHERE (service_router_id IS NOT NULL);

CREATE INDEX entitlements_customer ON public.entitlements USING btree (customer_id, expires_at);

CREATE INDEX entitlements_plan ON public.entitlements USING btree (plan_id, expires_at) WHERE (plan_id IS NOT NULL);

CREATE INDEX entitlements_router_version ON public.entitlements USING btree (router_id, version);

CREATE INDEX entitlements_tenant_starts ON public.entitlements USING btree (tenant_id, starts_at);

CREATE INDEX entitlements_tenant_wide_version ON public.entitlements USING btree (tenant_id, version) WHERE (router_id IS NULL);

CREATE INDEX payments_customer ON public.payments USING btree (customer_id);

CREATE INDEX payments_pending ON public.payments USING btree (created_at) WHERE (status = 'pending'::text);

CREATE INDEX payments_tenant_completed ON public.payments USING btree (tenant_id, completed_at) WHERE (status = 'completed'::text);

CREATE INDEX payments_tenant_created ON public.payments USING btree (tenant_id, created_at DESC);

CREATE INDEX plans_tenant ON public.plans USING btree (tenant_id) WHERE (deleted_at IS NULL);

CREATE INDEX ppp_callback_events_received ON public.ppp_callback_events USING btree (received_at);

CREATE INDEX rate_buckets_updated ON public.rate_buckets USING btree (updated_at);

CREATE INDEX refresh_tokens_family ON public.refresh_tokens USING btree (family_id);

CREATE INDEX routers_tenant ON public.routers USING btree (tenant_id);

CREATE INDEX session_history_router_user ON ONLY public.session_history USING btree (router_id, username, ended_at);

CREATE INDEX session_history_default_router_id_username_ended_at_idx ON public.session_history_default USING btree (router_id, username, ended_at);

CREATE INDEX site_events_ts ON public.site_events USING btree (ts);

CREATE INDEX stream_tickets_expiry ON public.stream_tickets USING btree (expires_at);

CREATE INDEX token_families_expires ON public.token_families USING btree (expires_at);

CREATE INDEX token_families_user ON public.token_families USING btree (user_id);

CREATE UNIQUE INDEX users_email_lower ON public.users USING btree (lower(email)) WHERE (email IS NOT NULL);

CREATE UNIQUE INDEX users_username ON public.users USING btree (username) WHERE (username IS NOT NULL);

CREATE INDEX voucher_batches_tenant ON public.voucher_batches USING btree (tenant_id, created_at DESC);

CREATE INDEX vouchers_batch ON public.vouchers USING btree (batch_id);

CREATE INDEX vouchers_tenant_version ON public.vouchers USING btree (tenant_id, version);

ALTER INDEX public.session_history_pkey ATTACH PARTITION public.session_history_default_pkey;

ALTER INDEX public.session_history_router_user ATTACH PARTITION public.session_history_default_router_id_username_ended_at_idx;

CREATE TRIGGER current_sessions_read_version_del AFTER DELETE ON public.current_sessions REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_router_read_versions();

CREATE TRIGGER current_sessions_read_version_ins AFTER INSERT ON public.current_sessions REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_router_read_versions();

CREATE TRIGGER current_sessions_read_version_upd AFTER UPDATE ON public.current_sessions REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_router_read_versions();

CREATE TRIGGER customers_read_version_del AFTER DELETE ON public.customers REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_tenant_read_versions();

CREATE TRIGGER customers_read_version_ins AFTER INSERT ON public.customers REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_tenant_read_versions();

CREATE TRIGGER customers_read_version_upd AFTER UPDATE ON public.customers REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_tenant_read_versions();

CREATE TRIGGER customers_tenant_limit BEFORE INSERT ON public.customers FOR EACH ROW EXECUTE FUNCTION public.enforce_tenant_limits();

CREATE TRIGGER entitlements_read_version_del AFTER DELETE ON public.entitlements REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_tenant_read_versions();

CREATE TRIGGER entitlements_read_version_ins AFTER INSERT ON public.entitlements REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_tenant_read_versions();

CREATE TRIGGER entitlements_read_version_upd AFTER UPDATE ON public.entitlements REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_tenant_read_versions();

CREATE TRIGGER entitlements_version BEFORE INSERT OR UPDATE ON public.entitlements FOR EACH ROW EXECUTE FUNCTION public.entitlements_next_version();

CREATE TRIGGER router_hotspot_users_count_del AFTER DELETE ON public.router_hotspot_users REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.count_router_hotspot_users();

CREATE TRIGGER router_hotspot_users_count_ins AFTER INSERT ON public.router_hotspot_users REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.count_router_hotspot_users();

CREATE TRIGGER routers_revival_limit BEFORE UPDATE OF retired_at ON public.routers FOR EACH ROW WHEN (((old.retired_at IS NOT NULL) AND (new.retired_at IS NULL) AND new.managed)) EXECUTE FUNCTION public.enforce_router_revival_limit();

CREATE TRIGGER routers_tenant_limit BEFORE INSERT ON public.routers FOR EACH ROW EXECUTE FUNCTION public.enforce_tenant_limits();

CREATE TRIGGER vouchers_version BEFORE INSERT OR UPDATE ON public.vouchers FOR EACH ROW EXECUTE FUNCTION public.vouchers_next_version();

ALTER TABLE ONLY public.admin_tokens
    ADD CONSTRAINT admin_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.billing_profiles
    ADD CONSTRAINT billing_profiles_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.current_sessions
    ADD CONSTRAINT current_sessions_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_plan_id_fkey FOREIGN KEY (plan_id) REFERENCES public.plans(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES public.billing_profiles(id) ON DELETE RESTRICT;

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_service_router_id_fkey FOREIGN KEY (service_router_id) REFERENCES public.routers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.entitlements
    ADD CONSTRAINT entitlements_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.entitlements
    ADD CONSTRAINT entitlements_plan_id_fkey FOREIGN KEY (plan_id) REFERENCES public.plans(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.entitlements
    ADD CONSTRAINT entitlements_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.entitlements
    ADD CONSTRAINT entitlements_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_entitlement_id_fkey FOREIGN KEY (entitlement_id) REFERENCES public.entitlements(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_plan_id_fkey FOREIGN KEY (plan_id) REFERENCES public.plans(id);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_voucher_id_fkey FOREIGN KEY (voucher_id) REFERENCES public.vouchers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.plans
    ADD CONSTRAINT plans_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.ppp_callback_events
    ADD CONSTRAINT ppp_callback_events_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT refresh_tokens_family_id_fkey FOREIGN KEY (family_id) REFERENCES public.token_families(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.router_callback_secrets
    ADD CONSTRAINT router_callback_secrets_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.router_health
    ADD CONSTRAINT router_health_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.router_hotspot_users
    ADD CONSTRAINT router_hotspot_users_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.routers
    ADD CONSTRAINT routers_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.routers
    ADD CONSTRAINT routers_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE public.session_history
    ADD CONSTRAINT session_history_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.site_events
    ADD CONSTRAINT site_events_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.site_events
    ADD CONSTRAINT site_events_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.stream_tickets
    ADD CONSTRAINT stream_tickets_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.stream_tickets
    ADD CONSTRAINT stream_tickets_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.token_families
    ADD CONSTRAINT token_families_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_active_router_id_fkey FOREIGN KEY (active_router_id) REFERENCES public.routers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.voucher_batches
    ADD CONSTRAINT voucher_batches_plan_id_fkey FOREIGN KEY (plan_id) REFERENCES public.plans(id);

ALTER TABLE ONLY public.voucher_batches
    ADD CONSTRAINT voucher_batches_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.voucher_batches
    ADD CONSTRAINT voucher_batches_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.vouchers
    ADD CONSTRAINT vouchers_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES public.voucher_batches(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.vouchers
    ADD CONSTRAINT vouchers_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.vouchers
    ADD CONSTRAINT vouchers_router_id_fkey FOREIGN KEY (router_id) REFERENCES public.routers(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.vouchers
    ADD CONSTRAINT vouchers_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE;
