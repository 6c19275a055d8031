-- The agent link: presence held by live hub processes, retired routers, commands lost with
-- their agent.

-- One row per hub process, its lease renewed while it runs: an agent held by a process whose
-- lease ran out (it crashed, or hangs) is offline, whatever agents.connected says.
CREATE TABLE hub_instances (
    name         text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- A router its agent no longer lists: kept with its history, left out of portal, health and
-- metrics reads. A hello that lists it again brings it back.
ALTER TABLE routers ADD COLUMN retired_at timestamptz;

-- 'lost': the agent's link ended before it answered (the caller got 503 at once).
ALTER TABLE commands DROP CONSTRAINT commands_status_check;
ALTER TABLE commands ADD CONSTRAINT commands_status_check
    CHECK (status IN ('pending', 'sent', 'done', 'failed', 'expired', 'lost'));
