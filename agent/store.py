"""The agent's one SQLite storage layer: session cache, outbox, entitlements, commands, meta.

Every write happens in a ``transaction()`` (BEGIN IMMEDIATE ... COMMIT under one asyncio lock),
so a session diff and the events it produces commit together or not at all: a kill -9 never
leaves the cache and the outbox disagreeing. WAL with ``synchronous=FULL``: a committed event
survives a crash or a power cut. The schema is created and migrated at open, tracked by
``PRAGMA user_version``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from common import wire
from common.timeutil import to_iso, utcnow

log = logging.getLogger(__name__)

# One entry per schema version; entry N migrates from user_version N to N + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    -- The session mirror: what the agent last saw active on each router.
    CREATE TABLE sessions (
        router TEXT NOT NULL,
        kind TEXT NOT NULL,
        session_id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (router, kind, session_id)
    ) WITHOUT ROWID;
    -- Events waiting for the hub's ack; AUTOINCREMENT never reuses a sequence number.
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        created REAL NOT NULL,
        kind TEXT NOT NULL,
        router TEXT,
        data TEXT NOT NULL
    );
    CREATE INDEX outbox_kind_seq ON outbox (kind, seq);
    -- Paid access enforced locally; mac_address '' when the entitlement has none.
    CREATE TABLE entitlements (
        router TEXT NOT NULL,
        username TEXT NOT NULL,
        mac_address TEXT NOT NULL,
        expires_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'active',
        suspended INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL,
        PRIMARY KEY (router, username, mac_address)
    );
    CREATE INDEX entitlements_due ON entitlements (state, expires_at);
    -- Commands already executed, so a repeated id returns the recorded result.
    CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        router TEXT NOT NULL,
        result TEXT NOT NULL,
        executed_at REAL NOT NULL
    );
    """,
    # The router clock at each session's login, so a session's row need not be rewritten
    # just because its uptime grew (only reported changes are written).
    """
    ALTER TABLE sessions ADD COLUMN login_clock REAL;
    """,
    # Vouchers the hub sent, per router: 'new' until the hotspot user exists on the router,
    # then 'ready'; 'redeemed' at the first login (its MAC and time kept, ``locked`` once the
    # router's user carries that MAC); 'removed' when unused past valid_until.
    """
    CREATE TABLE vouchers (
        router TEXT NOT NULL,
        code TEXT NOT NULL,
        batch_id INTEGER NOT NULL,
        valid_until REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'new',
        mac_address TEXT,
        redeemed_at REAL,
        expires_at REAL,
        locked INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL,
        PRIMARY KEY (router, code)
    ) WITHOUT ROWID;
    CREATE INDEX vouchers_state ON vouchers (state, router);
    """,
    # The configured hotspot users of each router as last reported to the hub, by name.
    """
    CREATE TABLE hotspot_users (
        router TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (router, name)
    ) WITHOUT ROWID;
    """,
    # The routers the hub manages for this agent (routers.sync, wire.ManagedRouter as JSON),
    # so that after a restart with the hub away the agent still runs them.
    """
    CREATE TABLE managed_routers (
        name TEXT PRIMARY KEY,
        data TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
_SESSION = msgspec.json.Decoder(wire.Session)
_HOTSPOT_USER = msgspec.json.Decoder(wire.HotspotUser)
_MANAGED_ROUTER = msgspec.json.Decoder(wire.ManagedRouter)
# Meta key set once a router's users were printed: its (possibly empty) list is known.
USERS_KNOWN_META = "hotspot_users_known:{router}"
COMMAND_RETENTION_SECONDS = 30 * 86400


@dataclass(slots=True)
class StoredEntitlement:
    """An entitlement as kept by the agent: which router, and where enforcement stands."""

    router: str
    entitlement: wire.Entitlement
    expires_at: float  # unix seconds
    state: str = "active"  # "active" | "enforced"
    suspended: bool = False  # set by a manual disconnect: drift repair leaves it alone


@dataclass(slots=True)
class StoredVoucher:
    """A voucher as kept by the agent for one router, and where its life stands."""

    router: str
    voucher: wire.SyncedVoucher
    valid_until: float  # unix seconds
    state: str = "new"  # "new" | "ready" | "redeemed" | "removed"
    mac_address: str | None = None
    redeemed_at: float | None = None
    expires_at: float | None = None
    locked: bool = False


_encoder = msgspec.json.Encoder()


def _dumps(value: Any) -> str:
    """Compact JSON (msgspec: wire Structs and dicts alike), as the hub link sends it."""
    return _encoder.encode(value).decode()


def encode(value: Any) -> str:
    """A wire Struct (or dict) as the JSON text stored and sent: encode a session once and
    hand the text to both ``put_sessions`` and ``append_events``."""
    return _encoder.encode(value).decode()


as_dict = wire.as_dict  # a flat wire Struct (Session, CommandResult, ...) as a shallow dict


@dataclass(slots=True)
class Transaction:
    """One open write transaction; what it appended is reported to the commit hooks."""

    db: aiosqlite.Connection
    appended: list[tuple[int, str]] = field(default_factory=list)  # (seq, kind)
    deleted_events: int = 0
    _seq: int | None = None

    async def append_event(self, kind: str, router: str | None, data: dict[str, Any] | str) -> int:
        """Add one outbox row; returns its sequence number."""
        await self.append_events([(kind, router, data)])
        return self.appended[-1][0]

    async def append_events(
        self, events: Iterable[tuple[str, str | None, dict[str, Any] | str]]
    ) -> None:
        """Add outbox rows in one statement (a session diff can hold thousands); ``data`` is a
        dict, or already the JSON text (``encode``), stored as is.

        Sequence numbers are given explicitly: inside BEGIN IMMEDIATE nobody else writes, so
        they continue ``sqlite_sequence`` exactly as AUTOINCREMENT would.
        """
        now = utcnow()
        ts, created = to_iso(now), now.timestamp()
        seq = await self._last_seq()
        rows = []
        for kind, router, data in events:
            seq += 1
            text = data if type(data) is str else _dumps(data)
            rows.append((seq, ts, created, kind, router, text))
            self.appended.append((seq, kind))
        if rows:
            await self.db.executemany(
                "INSERT INTO outbox (seq, ts, created, kind, router, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._seq = seq

    async def _last_seq(self) -> int:
        if self._seq is None:
            self._seq = await last_outbox_seq(self.db)
        return self._seq

    async def put_sessions(
        self,
        router: str,
        kind: str,
        sessions: Iterable[wire.Session],
        *,
        encoded: dict[str, str] | None = None,
        logins: dict[str, float] | None = None,
    ) -> None:
        """Cache sessions; ``encoded`` (session id -> JSON text) reuses the outbox's encoding,
        ``logins`` (session id -> router clock at login) lets a restart tell logins apart."""
        encoded = encoded or {}
        logins = logins or {}
        await self.db.executemany(
            "INSERT OR REPLACE INTO sessions (router, kind, session_id, data, login_clock)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (
                    router,
                    kind,
                    s.session_id,
                    encoded.get(s.session_id) or _dumps(s),
                    logins.get(s.session_id),
                )
                for s in sessions
            ],
        )

    async def set_session_logins(self, router: str, kind: str, logins: dict[str, float]) -> None:
        """Keep the login clocks of cached sessions that are not rewritten otherwise."""
        await self.db.executemany(
            "UPDATE sessions SET login_clock = ? WHERE router = ? AND kind = ? AND session_id = ?",
            [(clock, router, kind, sid) for sid, clock in logins.items()],
        )

    async def delete_sessions(self, router: str, kind: str, session_ids: Iterable[str]) -> None:
        await self.db.executemany(
            "DELETE FROM sessions WHERE router = ? AND kind = ? AND session_id = ?",
            [(router, kind, sid) for sid in session_ids],
        )

    async def put_hotspot_users(self, router: str, encoded: dict[str, str]) -> None:
        """Cache users (name -> JSON text, the same text the outbox row holds)."""
        await self.db.executemany(
            "INSERT OR REPLACE INTO hotspot_users (router, name, data) VALUES (?, ?, ?)",
            [(router, name, data) for name, data in encoded.items()],
        )

    async def delete_hotspot_users(self, router: str, names: Iterable[str]) -> None:
        await self.db.executemany(
            "DELETE FROM hotspot_users WHERE router = ? AND name = ?",
            [(router, name) for name in names],
        )

    async def get_meta(self, key: str) -> str | None:
        rows = await self.db.execute_fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    async def replace_managed_routers(self, routers: Iterable[wire.ManagedRouter]) -> None:
        """The hub's whole set of managed routers (routers.sync) becomes exactly these."""
        await self.db.execute("DELETE FROM managed_routers")
        await self.db.executemany(
            "INSERT INTO managed_routers (name, data) VALUES (?, ?)",
            [(router.name, msgspec.json.encode(router).decode()) for router in routers],
        )

    async def delete_meta(self, key: str) -> None:
        await self.db.execute("DELETE FROM meta WHERE key = ?", (key,))

    async def entitlements(self) -> list[StoredEntitlement]:
        """Every entitlement held, read inside this transaction."""
        return _entitlements(await self.db.execute_fetchall(_ENTITLEMENTS + " ORDER BY expires_at"))

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
        )

    async def record_command(self, result: wire.CommandResult, router: str) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO commands (id, name, router, result, executed_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (result.command_id, result.name, router, _dumps(as_dict(result)), time.time()),
        )

    async def put_entitlement(self, stored: StoredEntitlement) -> None:
        ent = stored.entitlement
        await self.db.execute(
            "INSERT OR REPLACE INTO entitlements"
            " (router, username, mac_address, expires_at, state, suspended, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                stored.router,
                ent.username,
                ent.mac_address or "",
                stored.expires_at,
                stored.state,
                int(stored.suspended),
                _dumps(as_dict(ent)),
            ),
        )

    async def delete_entitlements(self, router: str, username: str, mac: str | None) -> int:
        """Delete one user's entitlements on a router (only that MAC's when given)."""
        if mac is None:
            cursor = await self.db.execute(
                "DELETE FROM entitlements WHERE router = ? AND username = ?", (router, username)
            )
        else:
            cursor = await self.db.execute(
                "DELETE FROM entitlements WHERE router = ? AND username = ? AND mac_address = ?",
                (router, username, mac),
            )
        count = cursor.rowcount
        await cursor.close()
        return count

    async def set_entitlements_suspended(
        self, router: str, username: str, mac: str | None, suspended: bool
    ) -> None:
        query = "UPDATE entitlements SET suspended = ? WHERE router = ? AND username = ?"
        params: tuple[Any, ...] = (int(suspended), router, username)
        if mac is not None:
            query += " AND mac_address = ?"
            params += (mac,)
        await self.db.execute(query, params)

    async def set_entitlement_state(self, stored: StoredEntitlement, state: str) -> None:
        await self.db.execute(
            "UPDATE entitlements SET state = ?"
            " WHERE router = ? AND username = ? AND mac_address = ?",
            (
                state,
                stored.router,
                stored.entitlement.username,
                stored.entitlement.mac_address or "",
            ),
        )

    async def add_vouchers(self, vouchers: Iterable[StoredVoucher]) -> int:
        """Keep vouchers not held yet (one held already keeps its state); returns how many."""
        before = self.db.total_changes
        await self.db.executemany(
            "INSERT OR IGNORE INTO vouchers (router, code, batch_id, valid_until, state, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    v.router,
                    v.voucher.code,
                    v.voucher.batch_id,
                    v.valid_until,
                    v.state,
                    _dumps(v.voucher),
                )
                for v in vouchers
            ],
        )
        return self.db.total_changes - before

    async def set_voucher_state(self, router: str, code: str, state: str) -> None:
        await self.db.execute(
            "UPDATE vouchers SET state = ? WHERE router = ? AND code = ?", (state, router, code)
        )

    async def redeem_voucher(self, redeemed: StoredVoucher) -> bool:
        """Mark an unused voucher redeemed (first login); False if it was not unused."""
        cursor = await self.db.execute(
            "UPDATE vouchers SET state = 'redeemed', mac_address = ?, redeemed_at = ?,"
            " expires_at = ? WHERE router = ? AND code = ? AND state IN ('new', 'ready')",
            (
                redeemed.mac_address,
                redeemed.redeemed_at,
                redeemed.expires_at,
                redeemed.router,
                redeemed.voucher.code,
            ),
        )
        count = cursor.rowcount
        await cursor.close()
        return count == 1

    async def retire_voucher_elsewhere(self, code: str, router: str, now: float) -> int:
        """A code just redeemed on ``router``: unused copies on the agent's other routers (a
        tenant-wide batch) are due for removal at once, so one voucher is not used twice."""
        cursor = await self.db.execute(
            "UPDATE vouchers SET valid_until = min(valid_until, ?)"
            " WHERE code = ? AND router != ? AND state IN ('new', 'ready')",
            (now, code, router),
        )
        count = cursor.rowcount
        await cursor.close()
        return count

    async def retire_vouchers(self, router: str, codes: Iterable[str], now: float) -> int:
        """Unused vouchers the hub says are used or expired: due for removal at once."""
        before = self.db.total_changes
        await self.db.executemany(
            "UPDATE vouchers SET valid_until = min(valid_until, ?)"
            " WHERE router = ? AND code = ? AND state IN ('new', 'ready')",
            [(now, router, code) for code in codes],
        )
        return self.db.total_changes - before

    async def set_voucher_locked(self, router: str, code: str) -> None:
        await self.db.execute(
            "UPDATE vouchers SET locked = 1 WHERE router = ? AND code = ?", (router, code)
        )

    async def redeemed_voucher_codes(self) -> set[tuple[str, str]]:
        """(router, code) of every redeemed voucher: their entitlements are the agent's own."""
        rows = await self.db.execute_fetchall(
            "SELECT router, code FROM vouchers WHERE state = 'redeemed'"
        )
        return {(router, code) for router, code in rows}

    async def delete_events_of_kinds(self, kinds: Iterable[str], limit: int) -> dict[str, int]:
        """Delete up to ``limit`` oldest outbox rows of the given kinds; count per kind."""
        kinds = sorted(kinds)
        marks = ",".join("?" * len(kinds))
        rows = await self.db.execute_fetchall(
            f"SELECT seq, kind FROM outbox WHERE kind IN ({marks}) ORDER BY seq LIMIT ?",
            (*kinds, limit),
        )
        counts: dict[str, int] = {}
        for _, kind in rows:
            counts[kind] = counts.get(kind, 0) + 1
        await self.db.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq, _ in rows])
        self.deleted_events += len(rows)
        return counts


CommitHook = Callable[[Transaction], Awaitable[None]]


class Store:
    """One aiosqlite connection; writes serialised by a lock, reads share it."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self._lock = asyncio.Lock()
        self._commit_hooks: list[CommitHook] = []

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating and migrating) the database at ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA busy_timeout=5000")
            # 1 MiB of page cache (the default is 2): the agent's footprint target is 60 MB at
            # 5,000 sessions, and only reported changes are written.
            await db.execute("PRAGMA cache_size=-1024")
            store = cls(db, path)
            await store._migrate()
            await store._prune_commands()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        async with self._lock:
            await self.db.close()

    def add_commit_hook(self, hook: CommitHook) -> None:
        """Call ``hook(tx)`` after every committed transaction (outside the lock)."""
        self._commit_hooks.append(hook)

    async def _migrate(self) -> None:
        (version,) = (await self.db.execute_fetchall("PRAGMA user_version"))[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: schema version {version} is newer than this agent ({SCHEMA_VERSION})"
            )
        for target in range(version, SCHEMA_VERSION):
            log.info("store migrating path=%s from=%d to=%d", self.path, target, target + 1)
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[target]):
                    await self.db.execute(statement)
                await self.db.execute(f"PRAGMA user_version={target + 1}")
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise

    async def forget_routers_except(self, routers: list[str]) -> int:
        """Drop cached sessions (and hotspot users) of routers no longer configured; returns
        how many sessions."""
        marks = ",".join("?" * len(routers))
        async with self.transaction() as tx:
            cursor = await tx.db.execute(
                f"DELETE FROM sessions WHERE router NOT IN ({marks})", tuple(routers)
            )
            count = cursor.rowcount
            await cursor.close()
            await tx.db.execute(
                f"DELETE FROM hotspot_users WHERE router NOT IN ({marks})", tuple(routers)
            )
        return count

    async def _prune_commands(self) -> None:
        async with self.transaction() as tx:
            await tx.db.execute(
                "DELETE FROM commands WHERE executed_at < ?",
                (time.time() - COMMAND_RETENTION_SECONDS,),
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception, hooks run after commit."""
        async with self._lock:
            tx = Transaction(self.db)
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                await asyncio.shield(self.db.execute("ROLLBACK"))
                raise
            await asyncio.shield(self.db.execute("COMMIT"))
        for hook in self._commit_hooks:
            await hook(tx)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """A consistent read: several SELECTs see one state (no write can interleave)."""
        async with self._lock:
            await self.db.execute("BEGIN")
            try:
                yield self.db
            finally:
                await asyncio.shield(self.db.execute("COMMIT"))

    # -- reads ---------------------------------------------------------------------------------

    async def fetchall(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        async with self._lock:
            return list(await self.db.execute_fetchall(query, params))

    async def managed_routers(self) -> list[wire.ManagedRouter]:
        """The routers the hub last sent (routers.sync), by name."""
        rows = await self.fetchall("SELECT data FROM managed_routers ORDER BY name")
        return [_MANAGED_ROUTER.decode(data) for (data,) in rows]

    async def get_meta(self, key: str) -> str | None:
        rows = await self.fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    @staticmethod
    def decode_session(data: str | bytes) -> wire.Session:
        """A cached session row's JSON back into its Struct (msgspec, no dict in between)."""
        return _SESSION.decode(data)

    async def sessions(self, router: str | None = None) -> list[tuple[str, str, wire.Session]]:
        """Cached sessions as (router, kind, session)."""
        query = "SELECT router, kind, data FROM sessions"
        params: tuple[Any, ...] = ()
        if router is not None:
            query += " WHERE router = ?"
            params = (router,)
        rows = await self.fetchall(query + " ORDER BY router, kind, session_id", params)
        return [(r, k, _SESSION.decode(d)) for r, k, d in rows]

    async def snapshot_rows(
        self,
    ) -> tuple[int, list[tuple[str, str]], list[tuple[str, str]], set[str]]:
        """What a snapshot is made of, read in one transaction: (the last outbox seq, every
        cached session and hotspot user as (router, JSON), the routers whose users are known)."""
        async with self.reading() as db:
            as_of_seq = await last_outbox_seq(db)
            sessions = await db.execute_fetchall(
                "SELECT router, data FROM sessions ORDER BY router, kind, session_id"
            )
            users = await db.execute_fetchall(
                "SELECT router, data FROM hotspot_users ORDER BY router, name"
            )
            marks = await db.execute_fetchall(
                "SELECT key FROM meta WHERE key LIKE ?", (USERS_KNOWN_META.format(router="%"),)
            )
        known = {key.partition(":")[2] for (key,) in marks}
        return as_of_seq, list(sessions), list(users), known

    async def hotspot_users(self, router: str) -> list[wire.HotspotUser]:
        """A router's cached hotspot users, by name."""
        rows = await self.fetchall(
            "SELECT data FROM hotspot_users WHERE router = ? ORDER BY name", (router,)
        )
        return [_HOTSPOT_USER.decode(data) for (data,) in rows]

    @staticmethod
    def decode_hotspot_user(data: str | bytes) -> wire.HotspotUser:
        return _HOTSPOT_USER.decode(data)

    async def session_logins(self, router: str) -> dict[tuple[str, str], float]:
        """(kind, session id) -> the router clock at login, where the cache knows it."""
        rows = await self.fetchall(
            "SELECT kind, session_id, login_clock FROM sessions"
            " WHERE router = ? AND login_clock IS NOT NULL",
            (router,),
        )
        return {(kind, sid): clock for kind, sid, clock in rows}

    async def command_result(self, command_id: str) -> wire.CommandResult | None:
        rows = await self.fetchall("SELECT result FROM commands WHERE id = ?", (command_id,))
        return wire.parse_result(json.loads(rows[0][0])) if rows else None

    async def entitlements(
        self, *, due_before: float | None = None, state: str | None = None
    ) -> list[StoredEntitlement]:
        query = _ENTITLEMENTS
        params: tuple[Any, ...] = ()
        if state is not None:
            query += " AND state = ?"
            params += (state,)
        if due_before is not None:
            query += " AND expires_at <= ?"
            params += (due_before,)
        return _entitlements(await self.fetchall(query + " ORDER BY expires_at", params))

    async def entitlement_macs(self, router: str, username: str) -> set[str]:
        """MACs the user's entitlements on that router name (its devices, as the hub knows)."""
        rows = await self.fetchall(
            "SELECT mac_address FROM entitlements"
            " WHERE router = ? AND username = ? AND mac_address != ''",
            (router, username),
        )
        return {mac for (mac,) in rows}

    async def next_expiry(self) -> float | None:
        rows = await self.fetchall(
            "SELECT MIN(expires_at) FROM entitlements WHERE state = 'active'"
        )
        return rows[0][0]

    async def vouchers(
        self, *, router: str | None = None, states: Iterable[str] | None = None
    ) -> list[StoredVoucher]:
        """Vouchers held, of one router and in these states when given."""
        query = _VOUCHERS
        params: tuple[Any, ...] = ()
        if router is not None:
            query += " AND router = ?"
            params += (router,)
        if states is not None:
            wanted = tuple(states)
            query += f" AND state IN ({','.join('?' * len(wanted))})"
            params += wanted
        return _vouchers(await self.fetchall(query + " ORDER BY router, code", params))

    async def vouchers_named(self, router: str, codes: Iterable[str]) -> dict[str, StoredVoucher]:
        """The router's vouchers among these names (hotspot usernames), by code."""
        names = sorted(set(codes))
        found: dict[str, StoredVoucher] = {}
        for start in range(0, len(names), 500):  # a first print may list 50,000 sessions
            part = names[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = await self.fetchall(
                _VOUCHERS + f" AND router = ? AND code IN ({marks})", (router, *part)
            )
            found.update((v.voucher.code, v) for v in _vouchers(rows))
        return found


_VOUCHERS = (
    "SELECT router, valid_until, state, mac_address, redeemed_at, expires_at, locked, data"
    " FROM vouchers WHERE 1=1"
)
_VOUCHER = msgspec.json.Decoder(wire.SyncedVoucher)


def _vouchers(rows: Iterable[Any]) -> list[StoredVoucher]:
    return [
        StoredVoucher(
            router=router,
            voucher=_VOUCHER.decode(data),
            valid_until=valid_until,
            state=state,
            mac_address=mac,
            redeemed_at=redeemed_at,
            expires_at=expires_at,
            locked=bool(locked),
        )
        for router, valid_until, state, mac, redeemed_at, expires_at, locked, data in rows
    ]


_ENTITLEMENTS = "SELECT router, expires_at, state, suspended, data FROM entitlements WHERE 1=1"
_ENTITLEMENT = msgspec.json.Decoder(wire.Entitlement)


def _entitlements(rows: Iterable[Any]) -> list[StoredEntitlement]:
    return [
        StoredEntitlement(
            router=router,
            entitlement=_ENTITLEMENT.decode(data),
            expires_at=expires_at,
            state=st,
            suspended=bool(suspended),
        )
        for router, expires_at, st, suspended, data in rows
    ]


async def last_outbox_seq(db: aiosqlite.Connection) -> int:
    """The highest sequence number ever given out (rows may be gone, acknowledged)."""
    rows = await db.execute_fetchall("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
    return int(rows[0][0]) if rows else 0


def _statements(script: str) -> list[str]:
    """Split a migration script on ``;`` (no triggers or string literals with ``;`` in it)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
