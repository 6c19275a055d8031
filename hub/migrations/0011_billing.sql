-- Billing (issue 15, seed 003): plans, payments, vouchers; tenants get a currency, a time zone
-- and the secret of their payment callback URL; dashboard users log in by username.
-- Money is numeric (exact Decimal in Python), in the tenant's currency, never float.

ALTER TABLE tenants
    ADD COLUMN currency text NOT NULL DEFAULT 'KES' CHECK (currency ~ '^[A-Z]{3}$'),
    ADD COLUMN timezone text NOT NULL DEFAULT 'Africa/Nairobi',
    -- Part of the tenant's callback URL (/api/payments/callback/<tenant>/<secret>): a callback
    -- without it is refused. Set by the payment service on first use.
    ADD COLUMN payment_callback_secret text;

-- Dashboard users of a tenant log in with a username (seed 003 POST /api/auth/login); unique
-- across the platform since the login names no tenant. Email stays the admins' login.
ALTER TABLE users ADD COLUMN username text
    CHECK (username ~ '^[a-z0-9][a-z0-9_.@-]{1,63}$');
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_login CHECK (email IS NOT NULL OR username IS NOT NULL);
CREATE UNIQUE INDEX users_username ON users (username) WHERE username IS NOT NULL;

CREATE TABLE plans (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    price numeric(14, 2) NOT NULL CHECK (price > 0),
    duration_value integer NOT NULL CHECK (duration_value >= 1),
    duration_unit text NOT NULL CHECK (duration_unit IN ('minutes', 'hours', 'days')),
    -- The customer's view: "5M" down, "2M" up (seed "speed": "5M/2M"). The router's rate-limit
    -- is rx/tx from its own side, i.e. "upload/download": built in one place (hub/services/plans.py).
    download_speed text NOT NULL,
    upload_speed text NOT NULL,
    connection_type text NOT NULL CHECK (connection_type IN ('hotspot', 'pppoe')),
    router_profile text,
    on_expiry text NOT NULL DEFAULT 'cut' CHECK (on_expiry IN ('cut', 'throttle')),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Deleted plans stay for the payments that bought them; listings skip them.
    deleted_at timestamptz
);
CREATE INDEX plans_tenant ON plans (tenant_id) WHERE deleted_at IS NULL;

-- What the dashboard shows of a customer: their phone, device, where and what they last bought.
ALTER TABLE customers
    ADD COLUMN phone text,
    ADD COLUMN mac_address text,
    ADD COLUMN router_id bigint REFERENCES routers (id) ON DELETE SET NULL,
    ADD COLUMN plan_id bigint REFERENCES plans (id) ON DELETE SET NULL;

-- The entitlement a payment bought (none for a grant made by hand).
ALTER TABLE entitlements ADD COLUMN plan_id bigint REFERENCES plans (id) ON DELETE SET NULL;
CREATE INDEX entitlements_plan ON entitlements (plan_id, expires_at) WHERE plan_id IS NOT NULL;

CREATE TABLE voucher_batches (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    plan_id bigint NOT NULL REFERENCES plans (id),
    -- The router whose agent creates the vouchers as hotspot users; NULL: every router.
    router_id bigint REFERENCES routers (id) ON DELETE CASCADE,
    count integer NOT NULL CHECK (count BETWEEN 1 AND 5000),
    code_length integer NOT NULL CHECK (code_length BETWEEN 4 AND 32),
    alphabet text NOT NULL,
    prefix text NOT NULL DEFAULT '',
    price numeric(14, 2) NOT NULL CHECK (price > 0),
    -- An unused voucher can be redeemed until then; after redemption the plan's duration runs.
    valid_until timestamptz NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voucher_batches_tenant ON voucher_batches (tenant_id, created_at DESC);

CREATE TABLE vouchers (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    batch_id bigint NOT NULL REFERENCES voucher_batches (id) ON DELETE CASCADE,
    code text NOT NULL,
    status text NOT NULL DEFAULT 'unused' CHECK (status IN ('unused', 'active', 'expired')),
    -- Set from the agent's report of the first login: the device that locked it, where, when.
    mac_address text,
    router_id bigint REFERENCES routers (id) ON DELETE SET NULL,
    redeemed_at timestamptz,
    expires_at timestamptz,
    customer_id bigint REFERENCES customers (id) ON DELETE SET NULL,
    UNIQUE (tenant_id, code)
);
CREATE INDEX vouchers_batch ON vouchers (batch_id);

CREATE TABLE payments (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id),
    plan_id bigint NOT NULL REFERENCES plans (id),
    router_id bigint REFERENCES routers (id) ON DELETE SET NULL,
    method text NOT NULL CHECK (method IN ('mobile_money', 'cash', 'voucher')),
    provider text,  -- 'mpesa' for mobile money
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'completed', 'failed', 'expired')),
    amount numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency text NOT NULL,
    phone text,
    mac_address text,
    reference text,
    -- The provider's ids: Daraja's CheckoutRequestID (one payment each) and MerchantRequestID.
    checkout_request_id text UNIQUE,
    merchant_request_id text,
    -- MpesaReceiptNumber: unique, so a replayed callback can never complete a second payment.
    receipt text UNIQUE,
    result_code integer,
    result_desc text,
    voucher_id bigint UNIQUE REFERENCES vouchers (id) ON DELETE SET NULL,
    entitlement_id bigint REFERENCES entitlements (id) ON DELETE SET NULL,
    recorded_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,  -- when the money arrived (seed payment_date / transaction_date)
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_tenant_created ON payments (tenant_id, created_at DESC);
CREATE INDEX payments_tenant_completed ON payments (tenant_id, completed_at)
    WHERE status = 'completed';
CREATE INDEX payments_pending ON payments (created_at) WHERE status = 'pending';
CREATE INDEX payments_customer ON payments (customer_id);
