-- Router callbacks and live streams (issue 17).
--
-- router_callback_secrets: the secret a router's on-up/on-down script sends with each PPPoE
-- callback, one per router, stored as sha256 (shown once by `ispfleet-hub callback-secret`).
CREATE TABLE router_callback_secrets (
    router_id bigint PRIMARY KEY REFERENCES routers (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- ppp_callback_events: each (router, /ppp/active id, up|down) a callback reported, once. The
-- same event again changes nothing; an "up" of a session whose "down" is recorded is a replay.
CREATE TABLE ppp_callback_events (
    router_id bigint NOT NULL REFERENCES routers (id) ON DELETE CASCADE,
    session_id text NOT NULL,
    action text NOT NULL CHECK (action IN ('up', 'down')),
    username text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (router_id, session_id, action)
);
CREATE INDEX ppp_callback_events_received ON ppp_callback_events (received_at);

-- stream_tickets: one-use, short-lived tickets that authenticate a browser's WebSocket (it
-- cannot send Authorization). Only sha256 is stored; the caller is re-checked on redemption.
CREATE TABLE stream_tickets (
    ticket_hash bytea PRIMARY KEY,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    family_id uuid,
    api_key_prefix text,
    tenant_id bigint REFERENCES tenants (id) ON DELETE CASCADE,  -- the tenant it acts on
    expires_at timestamptz NOT NULL,
    CHECK ((user_id IS NOT NULL AND family_id IS NOT NULL) <> (api_key_prefix IS NOT NULL))
);
CREATE INDEX stream_tickets_expiry ON stream_tickets (expires_at);
