-- Hotspot users configured on each router, as its agent reports them (seed 002 totalUsers).
ALTER TABLE router_health ADD COLUMN hotspot_users integer;
