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

-- Retention: session_history becomes a table partitioned by month of ended_at (UTC), so old
-- months go with a cheap DROP of their partition. The retention task (hub/retention.py)
-- creates partitions ahead; rows outside every month's partition land in the default one.
-- The existing rows are kept, with their ids.
ALTER TABLE session_history RENAME TO session_history_old;
ALTER INDEX session_history_router_user RENAME TO session_history_old_router_user;
ALTER TABLE session_history_old RENAME CONSTRAINT session_history_pkey TO session_history_old_pkey;
ALTER SEQUENCE session_history_id_seq OWNED BY NONE;

-- LIKE: the same columns in the same order (whatever earlier migrations added), defaults
-- (the id sequence) and CHECKs; the keys and indexes are made again for the partitions.
CREATE TABLE session_history (
    LIKE session_history_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (id, ended_at),
    CONSTRAINT session_history_router_id_fkey FOREIGN KEY (router_id) REFERENCES routers ON DELETE CASCADE
) PARTITION BY RANGE (ended_at);
ALTER SEQUENCE session_history_id_seq OWNED BY session_history.id;
CREATE INDEX session_history_router_user ON session_history (router_id, username, ended_at);
CREATE TABLE session_history_default PARTITION OF session_history DEFAULT;

-- One partition per month that has rows (of the last 10 years), this month and the next 2.
DO $$
DECLARE
    this_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
    m timestamp;
BEGIN
    FOR m IN
        SELECT DISTINCT date_trunc('month', ended_at AT TIME ZONE 'UTC') FROM session_history_old
         WHERE ended_at >= (this_month - interval '10 years') AT TIME ZONE 'UTC'
           AND ended_at < (this_month + interval '3 months') AT TIME ZONE 'UTC'
        UNION
        SELECT this_month + n * interval '1 month' FROM generate_series(0, 2) AS n
        ORDER BY 1
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF session_history FOR VALUES FROM (%L) TO (%L)',
            'session_history_' || to_char(m, 'YYYYMM'),
            to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
    END LOOP;
END $$;

INSERT INTO session_history SELECT * FROM session_history_old;
DROP TABLE session_history_old;

-- Retention by age of the other growing tables.
CREATE INDEX site_events_ts ON site_events (ts);
CREATE INDEX commands_completed ON commands (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX audit_log_at ON audit_log (at);
