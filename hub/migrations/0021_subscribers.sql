-- Seed 004's billing profiles and subscribers (issue 16). A billing profile is what a tenant sells
-- by the month, put on a router as a PPP profile or a hotspot user profile of the same name. The
-- existing customers table (seed 003's phone customers) gains what a subscriber needs: the
-- sealed password (AES-GCM, hub.secrets, purpose 'customer:<id>:password'; never returned), the
-- profile, the service, the billing day, and the router that holds its PPP secret or hotspot user
-- (service_router_id; router_id stays "where they last bought", seed 003).
CREATE TABLE billing_profiles (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    type text NOT NULL CHECK (type IN ('pppoe', 'hotspot')),
    price numeric(14,2) NOT NULL CHECK (price >= 0),
    rate_limit text NOT NULL,
    local_address text,
    remote_address text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

ALTER TABLE customers
    ADD COLUMN password_sealed bytea,
    -- RESTRICT: a profile in use is refused deletion (409) by the service; this is the backstop.
    ADD COLUMN profile_id bigint REFERENCES billing_profiles(id) ON DELETE RESTRICT,
    ADD COLUMN service_type text CHECK (service_type IN ('pppoe', 'hotspot')),
    ADD COLUMN billing_day smallint CHECK (billing_day BETWEEN 1 AND 28),
    ADD COLUMN service_router_id bigint REFERENCES routers(id) ON DELETE SET NULL,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX customers_profile ON customers (profile_id) WHERE profile_id IS NOT NULL;
CREATE INDEX customers_service_router ON customers (service_router_id)
    WHERE service_router_id IS NOT NULL;
