"""The embedded LMS's SQLite file: its schema, its connections (read-only until the first
write), and transactions whose integrity errors read as an LMS's own conflicts. The provider
class that names the handlers builds on it, so the handlers can name it without importing
their own provider."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from lmsform.checkout import recorded_location
from lmsform.errors import ProviderError, display_path
from lmsform.providers.base import Provider
from lmsform.providers.local.settings import LocalSettings

SCHEMA = """
CREATE TABLE IF NOT EXISTS regions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS divisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, region_id INTEGER NOT NULL REFERENCES regions(id),
    name TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (region_id, name));
CREATE TABLE IF NOT EXISTS departments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, division_id INTEGER NOT NULL REFERENCES divisions(id),
    name TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (division_id, name));
CREATE TABLE IF NOT EXISTS courses (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE, title TEXT NOT NULL, description TEXT,
    published INTEGER NOT NULL DEFAULT 0, credits REAL, categories TEXT NOT NULL DEFAULT '[]',
    custom TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS course_prices (
    course_id INTEGER NOT NULL REFERENCES courses(id) ON DELETE CASCADE, plan TEXT NOT NULL,
    amount TEXT NOT NULL, currency TEXT NOT NULL, billing TEXT NOT NULL,
    PRIMARY KEY (course_id, plan));
CREATE TABLE IF NOT EXISTS groups_ (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, description TEXT,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_courses (
    group_id INTEGER NOT NULL REFERENCES groups_(id) ON DELETE CASCADE,
    course_id INTEGER NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, course_id));
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    first_name TEXT, last_name TEXT, username TEXT UNIQUE, employee_id TEXT, job_title TEXT,
    role TEXT NOT NULL DEFAULT 'learner', department_id INTEGER REFERENCES departments(id),
    active INTEGER NOT NULL DEFAULT 1, password_hash TEXT, custom TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user_groups (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups_(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id));
CREATE TABLE IF NOT EXISTS enrollments (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    course_id INTEGER NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, course_id));
CREATE TABLE IF NOT EXISTS coupons (
    id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL UNIQUE, percent TEXT, amount TEXT,
    currency TEXT, usage_limit INTEGER, expires TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS other_resources (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, attrs TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS coupon_courses (
    coupon_id INTEGER NOT NULL REFERENCES coupons(id) ON DELETE CASCADE,
    course_id INTEGER NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    PRIMARY KEY (coupon_id, course_id));
"""


class LocalDatabase(Provider):
    def __init__(self, settings: LocalSettings, config_dir: Path) -> None:
        super().__init__(settings, config_dir)
        self.settings: LocalSettings = settings
        self.path = config_dir / settings.path

        # one connection, shared by the planner's and apply's threads; closing takes it too,
        # so that it never closes under a listing
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._read_only = False

    def identity(self) -> str:
        """The LMS file, relative to the root of the repository holding it (absolute outside
        one): a checkout at another path (a CI runner, a re-clone) is the same LMS, and two
        configs naming one file by different relative paths name one LMS."""
        return f"local:{recorded_location(self.path)}"

    def is_instance(self, instance: str) -> bool:
        # states written before identities were relative record the file's absolute path
        return super().is_instance(instance) or instance == f"local:{self.path.resolve()}"

    def batch_size(self, kind: str) -> int:
        return min(self.settings.batch_size, super().batch_size(kind))

    @property
    def db(self) -> sqlite3.Connection:
        """For writing, opened on first write: `plan` never writes to the LMS file."""
        if self._db is None or self._read_only:
            self.close()
            self._db = self._open(f"file:{quote(str(self.path))}?mode=rwc")
            self._read_only = False
            with self._opening():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
        return self._db

    @property
    def reader(self) -> sqlite3.Connection:
        """For reading: the writer once there is one, else a read-only connection."""
        if self._db is None:
            self._db = self._open(f"file:{quote(str(self.path))}?mode=ro")
            self._read_only = True
        return self._db

    def _unopened(self) -> bool:
        """No LMS file yet, and none being made: an empty LMS, read without making one."""
        return self._db is None and not self.path.exists()

    def _open(self, uri: str) -> sqlite3.Connection:
        with self._opening():
            if self.path.is_dir():
                raise sqlite3.DatabaseError("it is a directory")
            db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # not a database?
        return db

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise ProviderError(
                f"opening {display_path(self.path)}",
                f"{exc}; the local provider's path must name an SQLite file lmsform made, "
                "or a new file in a writable directory",
            ) from None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                if not self._read_only:
                    # Back to a rollback journal between runs: a read-only plan then needs no
                    # -wal/-shm files, so it writes nothing beside the LMS file.
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("PRAGMA journal_mode=DELETE")
                self._db.close()
                self._db = None

    def _delete_row(self, table: str, kind: str, id: str) -> None:
        with self._lock, self._transaction(f"delete {kind} {id}"):
            cursor = self.db.execute(f"DELETE FROM {table} WHERE id = ?", (int(id),))
            if cursor.rowcount == 0:
                raise ProviderError(f"delete {kind} {id}", "not found", status=404)

    def _transaction(self, call: str) -> _Transaction:
        return _Transaction(self.db, call)


class _Transaction:
    """BEGIN/COMMIT around one call; SQLite's integrity errors become the LMS's own messages."""

    def __init__(self, db: sqlite3.Connection, call: str) -> None:
        self.db = db
        self.call = call

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None:
            self.db.execute("COMMIT")
            return False
        self.db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.IntegrityError):
            raise ProviderError(self.call, _explain(str(exc)), status=409) from None
        return False


def _explain(message: str) -> str:
    if message.startswith("UNIQUE constraint failed:"):
        column = message.split(":", 1)[1].strip().split(".")[-1]
        return f"conflict: another resource already has this {column}"
    if message.startswith("FOREIGN KEY constraint failed"):
        return "conflict: it is still in use (users, children or references point at it)"
    return message
