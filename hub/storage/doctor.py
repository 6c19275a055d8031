"""What ``ispfleet-hub doctor`` reads from the database, in one round trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.storage import Executor


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    version: str
    now: datetime
    migrations: frozenset[str]
    tenants: int
    agents: int
    instances: int


class DoctorRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def facts(self) -> DatabaseFacts:
        migrated = await self._db.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not migrated:
            row = await self._db.fetchrow("SELECT version() AS version, now() AS now")
            return DatabaseFacts(row["version"], row["now"], frozenset(), 0, 0, 0)
        row = await self._db.fetchrow(
            """
            SELECT version() AS version, now() AS now,
                   (SELECT array_agg(version) FROM schema_migrations) AS migrations,
                   (SELECT count(*) FROM tenants) AS tenants,
                   (SELECT count(*) FROM agents) AS agents,
                   (SELECT count(*) FROM hub_instances WHERE expires_at > now()) AS instances
            """
        )
        return DatabaseFacts(
            version=row["version"].split(" on ")[0],
            now=row["now"],
            migrations=frozenset(row["migrations"] or ()),
            tenants=row["tenants"],
            agents=row["agents"],
            instances=row["instances"],
        )
