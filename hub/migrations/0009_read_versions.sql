-- Read versions kept by triggers (issue 14): the portal's active-users snapshot is keyed by a
-- version read in one indexed row lookup per router and per tenant, whatever their size,
-- instead of a count and xmin sum over the router's sessions and the tenant's customers and
-- entitlements on every request. Statement-level triggers with transition tables bump them
-- once per statement (per router touched / per tenant touched), so a batched ingest frame
-- pays one small upsert per statement, not one per event. The counter rows commit with the
-- rows they count: a reader that sees version V sees the data of V (or newer).
-- No foreign keys: a cascaded delete of a router or tenant fires these triggers after the
-- parent row is gone; ids are never reused, so a leftover row is harmless.
CREATE TABLE router_read_versions (
    router_id bigint PRIMARY KEY,
    version bigint NOT NULL
);

CREATE TABLE tenant_read_versions (
    tenant_id bigint PRIMARY KEY,
    version bigint NOT NULL
);

CREATE FUNCTION bump_router_read_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO router_read_versions AS v (router_id, version)
    SELECT DISTINCT router_id, 1 FROM changed_rows ORDER BY router_id
    ON CONFLICT (router_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION bump_tenant_read_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_read_versions AS v (tenant_id, version)
    SELECT DISTINCT tenant_id, 1 FROM changed_rows ORDER BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;

-- One trigger per event: a transition table belongs to a single-event trigger. An UPDATE's
-- rows are taken from its NEW table (router_id / tenant_id are never changed by an update).
CREATE TRIGGER current_sessions_read_version_ins AFTER INSERT ON current_sessions
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_router_read_versions();
CREATE TRIGGER current_sessions_read_version_upd AFTER UPDATE ON current_sessions
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_router_read_versions();
CREATE TRIGGER current_sessions_read_version_del AFTER DELETE ON current_sessions
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_router_read_versions();

CREATE TRIGGER customers_read_version_ins AFTER INSERT ON customers
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_read_versions();
CREATE TRIGGER customers_read_version_upd AFTER UPDATE ON customers
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_read_versions();
CREATE TRIGGER customers_read_version_del AFTER DELETE ON customers
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_read_versions();

CREATE TRIGGER entitlements_read_version_ins AFTER INSERT ON entitlements
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_read_versions();
CREATE TRIGGER entitlements_read_version_upd AFTER UPDATE ON entitlements
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_read_versions();
CREATE TRIGGER entitlements_read_version_del AFTER DELETE ON entitlements
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_read_versions();

-- A grant that starts later changes access when it starts: the version includes the tenant's
-- next start after now, one probe of this index.
CREATE INDEX entitlements_tenant_starts ON entitlements (tenant_id, starts_at);
