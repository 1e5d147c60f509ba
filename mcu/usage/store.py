"""Where usage records are kept: one small interface over SQLite (the default) and PostgreSQL.

The schema comes from plain numbered SQL migrations (mcu/usage/migrations/NNNN_name.sql), applied
in order and remembered in `schema_migrations`; both databases run the same files. Inserts are
idempotent (`ON CONFLICT (id) DO NOTHING`): replaying a journal twice stores each record once.

A store object belongs to one thread (sqlite3 and psycopg connections are not shared): the
writer thread has its own, and readers (`mcu usage`, the admin API) open another.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mcu.usage.records import (
    CALL_COLUMNS,
    MEETING_COLUMNS,
    CallRecord,
    MeetingRecord,
    call_from_row,
    meeting_from_row,
    to_row,
)

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
TABLES = {"call": ("usage_calls", CALL_COLUMNS), "meeting": ("usage_meetings", MEETING_COLUMNS)}


class StoreError(Exception):
    """The store cannot be opened or written; the message says which and why."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration, in order."""
    out = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if match:
            out.append((int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    return out


def _statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


class Store:
    """The interface: migrate, insert records, read a time window back."""

    placeholder = "?"
    kind = "sqlite"

    def __init__(self, connection: Any, description: str) -> None:
        self.connection = connection
        self.description = description

    # -- schema
    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet; returns their file names."""
        cur = self.connection.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
        self.connection.commit()
        cur.execute("SELECT version FROM schema_migrations")
        done = {int(r[0]) for r in cur.fetchall()}
        applied = []
        for version, name, sql in migrations():
            if version in done:
                continue
            for statement in _statements(sql):
                cur.execute(statement)
            cur.execute(f"INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                        f"({self.placeholder}, {self.placeholder}, {self.placeholder})", (version, name, time.time()))
            self.connection.commit()
            applied.append(name)
        return applied

    def version(self) -> int:
        cur = self.connection.cursor()
        cur.execute("SELECT MAX(version) FROM schema_migrations")
        row = cur.fetchone()
        return int(row[0] or 0)

    # -- writing
    def insert(self, calls: Iterable[CallRecord] = (), meetings: Iterable[MeetingRecord] = ()) -> int:
        """Insert records (each id once, whatever is replayed); one transaction. Returns rows new."""
        cur = self.connection.cursor()
        added = 0
        for kind, records in (("call", list(calls)), ("meeting", list(meetings))):
            if not records:
                continue
            table, columns = TABLES[kind]
            marks = ", ".join([self.placeholder] * len(columns))
            sql = f"INSERT INTO {table} ({_quoted(columns)}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING"
            for record in records:
                cur.execute(sql, to_row(record))
                added += max(0, cur.rowcount)
        self.connection.commit()
        return added

    # -- reading
    def calls(self, start: float, end: float, tenant: str | None = None) -> list[CallRecord]:
        """Calls that overlap [start, end) (by start of call to its end), of one tenant or all."""
        return [call_from_row(r) for r in self._window("call", start, end, tenant)]

    def meetings(self, start: float, end: float, tenant: str | None = None) -> list[MeetingRecord]:
        return [meeting_from_row(r) for r in self._window("meeting", start, end, tenant)]

    def _window(self, kind: str, start: float, end: float, tenant: str | None) -> list[tuple]:
        table, columns = TABLES[kind]
        p = self.placeholder
        sql = f'SELECT {_quoted(columns)} FROM {table} WHERE start < {p} AND "end" >= {p}'
        params: list[Any] = [end, start]
        if tenant is not None:
            sql += f" AND tenant = {p}"
            params.append(tenant)
        cur = self.connection.cursor()
        cur.execute(sql + " ORDER BY start, id", params)
        return [tuple(r) for r in cur.fetchall()]

    def close(self) -> None:
        self.connection.close()


class SqliteStore(Store):
    pass


class PostgresStore(Store):
    placeholder = "%s"
    kind = "postgresql"


def sqlite_path(url: str, base_dir: Path) -> Path:
    path = Path(url.removeprefix("sqlite:").removeprefix("//"))
    return path if path.is_absolute() else base_dir / path


def open_store(url: str, base_dir: Path, migrate: bool = True) -> Store:
    """The store of a [store] url ("sqlite:FILE" relative to base_dir, or "postgresql://...")."""
    if url.startswith("sqlite:"):
        path = sqlite_path(url, base_dir)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(path), timeout=30.0)
            connection.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            connection.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the usage store {path}: {exc}") from None
        store: Store = SqliteStore(connection, str(path))
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError:
            raise StoreError("[store] url is PostgreSQL but psycopg is not installed; "
                             "pip install 'psycopg[binary]'") from None
        try:
            connection = psycopg.connect(url, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the usage store {_redact(url)}: {exc}") from None
        store = PostgresStore(connection, _redact(url))
    else:
        raise StoreError(f"unknown [store] url {url!r}; use sqlite:FILE or postgresql://...")
    if migrate:
        try:
            store.migrate()
        except Exception as exc:  # noqa: BLE001 - sqlite3 and psycopg raise their own error trees
            store.close()
            raise StoreError(f"cannot migrate the usage store {store.description}: {exc}") from None
    return store


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
