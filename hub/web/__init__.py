"""The hub's HTTP faces: the tenant portal (/api/portal), the admin face (/api/admin)."""
