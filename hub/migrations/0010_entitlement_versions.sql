-- Entitlement sync by difference (issue 20): every entitlement row carries the version of the
-- tenant's entitlements at its last insert or update (grant, extension, revoke). The tenant's
-- counter is taken under its row lock until commit, so a tenant's versions commit in order: a
-- reader that sees version V sees every row up to V. An agent holding the rows of its routers
-- up to V is sent only the rows above V (hub/link/session.py).
ALTER TABLE tenants ADD COLUMN entitlements_version bigint NOT NULL DEFAULT 0;
ALTER TABLE entitlements ADD COLUMN version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION entitlements_next_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenants SET entitlements_version = entitlements_version + 1
     WHERE id = NEW.tenant_id
    RETURNING entitlements_version INTO NEW.version;
    RETURN NEW;
END
$$;

CREATE TRIGGER entitlements_version BEFORE INSERT OR UPDATE ON entitlements
    FOR EACH ROW EXECUTE FUNCTION entitlements_next_version();

-- The newest version in an agent's scope: its routers' rows and the tenant-wide ones.
CREATE INDEX entitlements_router_version ON entitlements (router_id, version);
CREATE INDEX entitlements_tenant_wide_version ON entitlements (tenant_id, version)
    WHERE router_id IS NULL;
