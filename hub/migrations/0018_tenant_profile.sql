-- Seed 004's tenants (issue 16): company details, feature flags, an active switch, and limits
-- that hold however a router or customer is created (CLI, agent hello, payment, /v1): checked
-- by triggers under the tenant's row lock, so concurrent creations cannot overshoot.
ALTER TABLE tenants
    ADD COLUMN company_name text,
    ADD COLUMN phone text,
    ADD COLUMN max_mikrotiks integer CHECK (max_mikrotiks >= 0),
    ADD COLUMN max_network_users integer CHECK (max_network_users >= 0),
    ADD COLUMN features jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN is_active boolean NOT NULL DEFAULT true,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- SQLSTATE IF409: a tenant limit; the hub answers 409 with the message (hub/storage).
CREATE FUNCTION enforce_tenant_limits() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER routers_tenant_limit BEFORE INSERT ON routers
    FOR EACH ROW EXECUTE FUNCTION enforce_tenant_limits();
CREATE TRIGGER customers_tenant_limit BEFORE INSERT ON customers
    FOR EACH ROW EXECUTE FUNCTION enforce_tenant_limits();
