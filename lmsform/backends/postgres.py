"""`postgres`: state in PostgreSQL, for teams whose applies run on more than one machine.

A file on one machine cannot stop two CI runners, or a laptop and a runner, from applying
against the same LMS at once. Here one database holds any number of states, one per `name`:

    state:
      backend: postgres
      dsn: ${env:LMSFORM_STATE_DSN}      # postgresql://user:password@host:5432/db; a secret
      name: acme-production
      schema: lmsform                    # optional, the default

- Tables are created on first use and migrated by version (`SCHEMA_VERSION`, recorded in
  `<schema>.lmsform_schema`), under a transaction-level advisory lock so that two first uses
  never race.
- One row per state (`<schema>.states`: the snapshot, its lineage and serial) and one row per
  journal record (`<schema>.journal`), each written in its own committed transaction: a
  record survives `kill -9` once `append` returns; replacing the snapshot and dropping the
  journal it supersedes is one transaction.
- A snapshot is replaced only if the serial in the database is still the one this backend
  read (or last wrote): two writers that both got past the lock cannot lose an update.
- The lock is a session-level advisory lock held on the backend's connection for the whole
  apply: PostgreSQL releases it when the process dies, so a crash never needs
  `unlock --force`. Who holds it (owner, pid, host, operation, time) is kept in
  `<schema>.lock_holders` for whoever finds it taken.
- The DSN's password is a secret: never in messages, logs or `location()`.

psycopg 3 is an optional dependency (`pip install 'lmsform[postgres]'`), imported when this
backend is first used.
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, SecretStr

from lmsform.backends import (
    BackendSettings,
    JournalDamaged,
    Record,
    StateBackend,
    encode_each,
)
from lmsform.backends.file import holder_info, locked_message
from lmsform.errors import LmsformError, StateLockedError

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1
IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"
WRITTEN_PASSWORD = re.compile(r"^\w+://[^:/@]*:([^@]*)@|[?&]password=([^&]*)")
# Statements creating version N of the tables, from version N - 1; {s} is the schema.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE {s}.states (name text PRIMARY KEY, lineage text NOT NULL, "
        "serial bigint NOT NULL, snapshot text NOT NULL, "
        "updated_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE {s}.journal (seq bigserial PRIMARY KEY, name text NOT NULL, "
        "record text NOT NULL)",
        "CREATE INDEX journal_name ON {s}.journal (name, seq)",
        "CREATE TABLE {s}.lock_holders (name text PRIMARY KEY, holder text NOT NULL)",
    ],
}


class StateConflictError(LmsformError):
    """The state in the database changed since this process read it."""


class PostgresSettings(BackendSettings):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    dsn: SecretStr
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
    schema_name: str = Field("lmsform", alias="schema", pattern=IDENTIFIER)


class PostgresBackend(StateBackend):
    name = "postgres"
    description = "PostgreSQL: one row per state name, journal rows, an advisory lock"
    settings_model = PostgresSettings

    def __init__(self, settings: BackendSettings, config_dir: Path) -> None:
        super().__init__(settings, config_dir)
        assert isinstance(settings, PostgresSettings)
        self.state_name = settings.name
        self.schema = settings.schema_name
        self._dsn = settings.dsn.get_secret_value()
        self._conn: psycopg.Connection[Any] | None = None
        self._serial: int | None = None  # the serial read or last written: what a write expects
        self._seq = 0  # the last journal row this process read or wrote: what a write drops
        self._locked = False  # the lock lives on the connection: losing one loses the other
        self._ready = False

    def location(self) -> str:
        return f"{_where(self._dsn)} ({self.schema}.{self.state_name})"

    # connection

    def _connection(self) -> psycopg.Connection[Any]:
        if self._locked and (self._conn is None or self._conn.closed):
            raise LmsformError(
                f"lost the connection to the state {self.location()} while holding its lock, "
                "so the lock is gone too: stopping rather than writing without it. What was "
                "journaled is kept; run lmsform again")
        if self._conn is None or self._conn.closed:
            try:
                import psycopg
            except ImportError:
                raise LmsformError("the postgres state backend needs psycopg: "
                                   "pip install 'lmsform[postgres]'") from None
            try:
                self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                raise LmsformError(f"cannot connect to the state database at "
                                   f"{_where(self._dsn)}: {self._redact(exc)}") from None
        if not self._ready:
            self._migrate(self._conn)
            self._ready = True
        return self._conn

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Create or bring the tables up to SCHEMA_VERSION, one process at a time. Tables
        already there are only read: a role that may read the state and nothing more (a
        plan job's) never runs DDL, which PostgreSQL refuses it even as IF NOT EXISTS."""
        if self._schema_version(conn) == SCHEMA_VERSION:
            return
        s = self.schema
        with conn.transaction():
            # a space cannot be in a state's name: this key is never a state's lock
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_key(f"{s}/schema migration"),))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.lmsform_schema (version int NOT NULL)")
            row = conn.execute(f"SELECT max(version) FROM {s}.lmsform_schema").fetchone()
            current = (row[0] if row else None) or 0
            if current > SCHEMA_VERSION:
                raise LmsformError(f"the state tables in schema {s} are of version {current}; "
                                   f"this lmsform knows version {SCHEMA_VERSION}: upgrade it")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement.format(s=s))
                conn.execute(f"INSERT INTO {s}.lmsform_schema VALUES (%s)", (version,))

    def _schema_version(self, conn: psycopg.Connection[Any]) -> int | None:
        """The version of the state tables, without creating anything; None if absent."""
        table = f"{self.schema}.lmsform_schema"
        row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if row is None or row[0] is None:
            return None
        found = conn.execute(f"SELECT max(version) FROM {table}").fetchone()
        return found[0] if found else None

    def _redact(self, exc: BaseException) -> str:
        text = str(exc).strip()
        for password in {_password(self._dsn), *_written_passwords(self._dsn)} - {""}:
            text = text.replace(password, "***")
        return text

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """A database failure as one clear error naming the state, never the password."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise LmsformError(f"{doing} the state {self.location()}: "
                               f"{self._redact(exc)}") from None

    # snapshot

    def read(self) -> str | None:
        with self._errors("reading"):
            row = self._connection().execute(
                f"SELECT snapshot, serial FROM {self.schema}.states WHERE name = %s",
                (self.state_name,)).fetchone()
        self._serial = None if row is None else int(row[1])
        return None if row is None else str(row[0])

    def write(self, snapshot: str) -> None:
        """Replace the snapshot and drop its journal in one transaction, only if the serial
        in the database is still the one this backend read or wrote."""
        lineage, serial = _version(snapshot)
        conn = self._connection()
        with self._errors("writing"), conn.transaction():
            if self._serial is None:
                done = conn.execute(
                    f"INSERT INTO {self.schema}.states (name, lineage, serial, snapshot) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                    (self.state_name, lineage, serial, snapshot)).rowcount
            else:
                done = conn.execute(
                    f"UPDATE {self.schema}.states SET lineage = %s, serial = %s, "
                    "snapshot = %s, updated_at = now() WHERE name = %s AND serial = %s",
                    (lineage, serial, snapshot, self.state_name, self._serial)).rowcount
            if done != 1:
                raise StateConflictError(self._conflict())
            conn.execute(f"DELETE FROM {self.schema}.journal WHERE name = %s AND seq <= %s",
                         (self.state_name, self._seq))  # only what this snapshot holds
        self._serial = serial

    def _conflict(self) -> str:
        row = self._connection().execute(
            f"SELECT serial FROM {self.schema}.states WHERE name = %s",
            (self.state_name,)).fetchone()
        now = "none" if row is None else row[0]
        expected = "none" if self._serial is None else self._serial
        return (f"the state {self.location()} was changed by someone else since it was read "
                f"(serial {expected}, now {now}); nothing was overwritten, and this run's "
                "journal is kept. Run lmsform again: it continues from the newer state")

    # journal

    def append(self, record: Record) -> None:
        with self._errors("journaling to"):
            row = self._connection().execute(
                f"INSERT INTO {self.schema}.journal (name, record) VALUES (%s, %s) "
                "RETURNING seq", (self.state_name, json.dumps(record))).fetchone()
        self._seq = max(self._seq, int(row[0])) if row else self._seq  # committed: survives kill -9

    def append_all(self, records: list[Record]) -> None:
        """One statement, committed whole, for a batch's records, in their order."""
        texts, refused = encode_each(records, json.dumps)
        if texts:
            with self._errors("journaling to"):
                row = self._connection().execute(
                    f"WITH added AS (INSERT INTO {self.schema}.journal (name, record) "
                    "SELECT %s, record FROM unnest(%s::text[]) WITH ORDINALITY AS r(record, n) "
                    "ORDER BY n RETURNING seq) SELECT max(seq) FROM added",
                    (self.state_name, texts)).fetchone()
            self._seq = max(self._seq, int(row[0])) if row and row[0] is not None \
                else self._seq
        if refused is not None:
            raise refused

    def sync(self) -> None:
        """Every record is committed as it is appended: durable already."""

    def replay(self) -> Iterator[Record]:
        with self._errors("reading the journal of"):
            rows = self._connection().execute(
                f"SELECT seq, record FROM {self.schema}.journal WHERE name = %s ORDER BY seq",
                (self.state_name,)).fetchall()
        for seq, text in rows:  # each committed whole: none is ever cut short
            self._seq = max(self._seq, int(seq))
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                raise JournalDamaged(f"record {seq} is not a journal record")
            yield record

    # lock

    @contextlib.contextmanager
    def lock(self, operation: str) -> Iterator[None]:
        conn = self._connection()
        key = _key(f"{self.schema}/{self.state_name}")
        with self._errors("locking"):
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not (row and row[0]):
            raise StateLockedError(locked_message(self.lock_holder() or {}).replace(
                "If no lmsform is running against it, release the lock with "
                "`lmsform state unlock --force`",
                "PostgreSQL releases it when that process ends; wait with --lock-timeout"))
        self._locked = True
        try:
            with self._errors("locking"):
                conn.execute(
                    f"INSERT INTO {self.schema}.lock_holders (name, holder) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder",
                    (self.state_name, json.dumps(holder_info(operation))))
            yield
        finally:
            self._locked = False
            if not conn.closed:
                with contextlib.suppress(Exception):
                    conn.execute(f"DELETE FROM {self.schema}.lock_holders WHERE name = %s",
                                 (self.state_name,))
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def lock_holder(self) -> dict[str, Any] | None:
        """Who holds the lock: the holder row, if the advisory lock is really held (a row
        left by a process that died names nobody)."""
        conn = self._connection()
        key = _key(f"{self.schema}/{self.state_name}")
        unsigned = key & 0xFFFFFFFFFFFFFFFF  # pg_locks shows a bigint key as two oids
        with self._errors("reading the lock of"):
            held = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = "
                "current_database()) AND classid::bigint = %s AND objid::bigint = %s "
                "AND objsubid = 1", (unsigned >> 32, unsigned & 0xFFFFFFFF)).fetchone()
            if not (held and held[0]):
                return None
            row = conn.execute(f"SELECT holder FROM {self.schema}.lock_holders WHERE name = %s",
                               (self.state_name,)).fetchone()
        info = json.loads(row[0]) if row else {}
        return info if isinstance(info, dict) else {}

    def force_unlock(self) -> bool:
        """The lock dies with its holder's connection: there is nothing to force. A holder
        still connected is a running lmsform (or a hung one: end its session)."""
        holder = self.lock_holder()
        if holder is not None:
            raise LmsformError(
                f"{locked_message(holder).split('. If')[0]}. A PostgreSQL lock is released "
                "when its holder's connection ends; end that session (pg_terminate_backend) "
                "if the process is hung")
        return False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _key(text: str) -> int:
    """A stable 64-bit advisory lock key (signed, as PostgreSQL takes it) for a name."""
    value = (zlib.crc32(text.encode()) << 32) | zlib.crc32(text[::-1].encode())
    return value - (1 << 64) if value >= 1 << 63 else value


# How lmsform writes a snapshot's first members: read from there, a large state is not parsed
# whole on every save (100k users: a second and 170 MB). Anything else is parsed.
SNAPSHOT_HEAD = re.compile(
    r'\{\s*"format_version": *\d+,\s*"lineage": *"([0-9a-f-]+)",\s*"serial": *(\d+)\s*[,}]')


def _version(snapshot: str) -> tuple[str, int]:
    """The lineage and serial a snapshot carries (the only part of it this backend reads)."""
    head = SNAPSHOT_HEAD.match(snapshot)
    if head:
        return head[1], int(head[2])
    try:
        data = json.loads(snapshot)
        return str(data["lineage"]), int(data["serial"])
    except (ValueError, KeyError, TypeError):
        raise LmsformError("refusing to store a state snapshot without lineage and serial") \
            from None


def _password(dsn: str) -> str:
    """The password in a DSN, as libpq reads it (URI, query parameter or key/value); as
    written, when the DSN cannot be read."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        found = conninfo_to_dict(dsn).get("password")
        if found:
            return str(found)
    except Exception:  # an unreadable DSN: look for it as written
        pass
    uri = re.match(r"^\w+://[^:/@]*:([^@]*)@", dsn)
    if uri:
        return uri.group(1)
    keyword = re.search(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn)
    return keyword.group(1).strip("'") if keyword else ""


def _written_passwords(dsn: str) -> list[str]:
    """The password as the DSN spells it (percent-encoded, say), besides as libpq reads it."""
    return [p for pair in WRITTEN_PASSWORD.findall(dsn) for p in pair if p]


def _where(dsn: str) -> str:
    """host:port/database of a DSN, never its credentials."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:  # an unreadable DSN: say nothing of it
        return "(a DSN that could not be read)"
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/" \
           f"{parts.get('dbname') or '?'}"
