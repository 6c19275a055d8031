-- The HTTP edge: rate-limit buckets shared by every hub process.

-- One token bucket per key ("api_key:<id>", ...). UNLOGGED: losing it in a crash only refills
-- every bucket; a row of a full bucket is the same as no row, so idle rows may be deleted.
CREATE UNLOGGED TABLE rate_buckets (
    key        text PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at double precision NOT NULL,          -- seconds since the epoch, the taker's clock
    granted    boolean NOT NULL                    -- whether the last take got a token
);
CREATE INDEX rate_buckets_updated ON rate_buckets (updated_at);
