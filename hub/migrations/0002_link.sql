-- The agent link: what enrollment and the command dispatcher need beyond 0001.

-- The agent's WireGuard public key (the hub's peer entry for it); one address per agent.
ALTER TABLE agents ADD COLUMN wg_public_key text;
CREATE UNIQUE INDEX agents_wg_address ON agents (wg_address) WHERE wg_address IS NOT NULL;

-- How long the agent took to run a command, as it reported (cross-process results carry it).
ALTER TABLE commands ADD COLUMN latency_ms double precision;

-- Presence: "which agents does this hub process hold" at shutdown.
CREATE INDEX agents_hub_instance ON agents (hub_instance) WHERE connected;
