-- Vouchers (issue 15), hub side: what a batch needs beyond 0011, and the version the agents
-- sync vouchers by.
--
-- The login URL the sheet's QR codes open (the router's hotspot login page, e.g.
-- http://hotspot.lan/login); NULL: the QR code holds the bare code.
ALTER TABLE voucher_batches ADD COLUMN hotspot_login_url text
    CHECK (hotspot_login_url ~ '^https?://[^[:space:]]+$' AND length(hotspot_login_url) <= 255);

-- Voucher sync by difference, as entitlements (migration 0010): every voucher row carries the
-- version of the tenant's vouchers at its last insert or update (a new batch, a redemption...).
-- The counter is taken under the tenant's row lock until commit, so a tenant's versions commit
-- in order: a reader that sees version V sees every row up to V, and an agent holding its
-- vouchers up to V needs only the rows above V (hub/storage/vouchers.py changed_since).
-- A transaction takes one version per tenant and gives it to every voucher row it writes (a
-- batch of 5000 is one bump of the tenant row, not 5000): its rows commit together anyway, so
-- readers see all of that version or none of it.
ALTER TABLE tenants ADD COLUMN vouchers_version bigint NOT NULL DEFAULT 0;
ALTER TABLE vouchers ADD COLUMN version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION vouchers_next_version() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER vouchers_version BEFORE INSERT OR UPDATE ON vouchers
    FOR EACH ROW EXECUTE FUNCTION vouchers_next_version();

-- Rows above a version, newest first for the scope's current version.
CREATE INDEX vouchers_tenant_version ON vouchers (tenant_id, version);
