-- The hotspot users configured on each router (issue 15, seed 003 GET /api/routers/{id}/users),
-- as its agent mirrors /ip/hotspot/user: a snapshot on every connect, then one change at a time.
-- Keyed by name, as the dashboard and the sessions (current_sessions.username) name them.
CREATE TABLE router_hotspot_users (
    router_id bigint NOT NULL REFERENCES routers (id) ON DELETE CASCADE,
    name text NOT NULL,
    user_id text NOT NULL,                      -- RouterOS .id ("*1A")
    profile text,
    disabled boolean NOT NULL DEFAULT false,
    comment text,
    limit_uptime_seconds bigint,                -- NULL: no limit-uptime on the router
    mac_address text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (router_id, name)
);

-- router_health.hotspot_users (seed 002 totalUsers, migration 0004) counts these rows: every
-- statement that adds or removes users of a router recounts them once, after the statement
-- (so on top of a health row written by the same statement). An update changes no count.
CREATE FUNCTION count_router_hotspot_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE router_health h
       SET hotspot_users = (SELECT count(*) FROM router_hotspot_users u
                             WHERE u.router_id = h.router_id)
     WHERE h.router_id IN (SELECT DISTINCT router_id FROM changed_rows);
    RETURN NULL;
END
$$;

CREATE TRIGGER router_hotspot_users_count_ins AFTER INSERT ON router_hotspot_users
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_router_hotspot_users();
CREATE TRIGGER router_hotspot_users_count_del AFTER DELETE ON router_hotspot_users
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_router_hotspot_users();
