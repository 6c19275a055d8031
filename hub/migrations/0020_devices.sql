-- Devices (issue 16, seed 004 section 5): the routers table stays the one registry. A managed
-- row is a device created through /v1: the hub holds its API credentials (the password sealed
-- with hub.secrets.SecretBox, purpose 'router:<id>:api_password') and sends them to the site's
-- agent over the link; agent.toml routers (managed = false) keep their credentials on the site.
ALTER TABLE routers
    ADD COLUMN managed boolean NOT NULL DEFAULT false,
    ADD COLUMN api_username text,
    ADD COLUMN api_password_sealed bytea,
    ADD COLUMN tls boolean NOT NULL DEFAULT false,
    ADD COLUMN location text,
    -- inactive: kept in the registry, but the agent disconnects from it and stops mirroring.
    ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT routers_managed_credentials
        CHECK (NOT managed OR (api_username IS NOT NULL AND api_password_sealed IS NOT NULL));

-- The device a dashboard user works on (PATCH /v1/internal/mikrotik/{id}/activate).
ALTER TABLE users
    ADD COLUMN active_router_id bigint REFERENCES routers (id) ON DELETE SET NULL;

-- A deleted device is retired (its history kept); creating it again brings the row back. The
-- BEFORE INSERT limit trigger of 0018 lets an existing row through, so a revival is counted
-- here, under the same tenant row lock and with the same SQLSTATE.
CREATE FUNCTION enforce_router_revival_limit() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER routers_revival_limit BEFORE UPDATE OF retired_at ON routers
    FOR EACH ROW WHEN (OLD.retired_at IS NOT NULL AND NEW.retired_at IS NULL AND NEW.managed)
    EXECUTE FUNCTION enforce_router_revival_limit();
