"""`local`: an embedded LMS in one SQLite file, to try lmsform with no account.

It behaves like a real LMS on purpose: it assigns its own ids (never reusing a deleted
resource's, in files it creates), keeps server-side fields (creation time), enforces unique
emails, usernames and coupon codes, refuses to delete a department that still has users or a
region that still has divisions, and cannot change a coupon's code once issued (so such a
change plans as a replace). A kind it has no table of its own for (one a plugin or a test
registers) is kept whole, as JSON, in one table for every such kind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import sqlite3
import sys
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field

from lmsform import kinds
from lmsform.checkout import recorded_location
from lmsform.errors import LmsformError, ProviderError, display_path
from lmsform.providers.base import Handler, Provider, ProviderSettings
from lmsform.resources import LiveResource

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

# Creates a batch holds at most: one transaction each (see `create_many`).
BATCH_SIZE = 500


class LocalSettings(ProviderSettings):
    path: str = "lms.sqlite"  # relative to the config directory
    batch_size: int = Field(BATCH_SIZE, ge=1, le=10_000)  # creates per transaction

    def moved(self, source: Path, target: Path) -> dict[str, str]:
        if Path(self.path).is_absolute():
            return {}
        return {"path": os.path.relpath((source / self.path).resolve(), target.resolve())}


def _hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)
    return f"pbkdf2${salt.hex()}${digest.hex()}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Stored(Handler["LocalProvider"], ABC):
    """What every kind of the local LMS shares: a create in a transaction of its own, or many
    in one (a commit each is most of a large apply's time)."""

    batch_create = BATCH_SIZE

    @abstractmethod
    def _insert(self, attrs: dict[str, Any]) -> str:
        """Write a new resource, in the caller's transaction; its id."""

    def create(self, attrs: dict[str, Any]) -> str:
        with self.lms._lock, self.lms._transaction(f"create {self.kind}"):
            return self._insert(attrs)

    def create_many(self, items: list[dict[str, Any]]) -> list[str | LmsformError]:
        """A refused create is that resource's failure alone: the batch is undone and made
        again one create at a time, each in a savepoint of its own."""
        with self.lms._lock, self.lms._transaction(f"create {len(items)} {self.kind}s"):
            db = self.lms.db
            db.execute("SAVEPOINT batch")
            try:
                outcomes: list[str | LmsformError] = [self._insert(a) for a in items]
            except sqlite3.IntegrityError:
                db.execute("ROLLBACK TO batch")
                outcomes = [self._insert_alone(a) for a in items]
            db.execute("RELEASE batch")
        return outcomes

    def _insert_alone(self, attrs: dict[str, Any]) -> str | LmsformError:
        db = self.lms.db
        db.execute("SAVEPOINT item")
        try:
            return self._insert(attrs)
        except sqlite3.IntegrityError as exc:
            db.execute("ROLLBACK TO item")
            return ProviderError(f"create {self.kind}", _explain(str(exc)), status=409)
        finally:
            db.execute("RELEASE item")


class Rows(Stored):
    """A kind with a table of its own: plain columns named as its fields, its parent's id, and
    link tables for its lists of references. A subclass converts what is stored otherwise
    (`_write`, `_read`)."""

    table: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]  # plain columns that map one to one onto fields
    parents: ClassVar[Mapping[str, str]] = {}  # field -> the column holding the parent's id
    # field -> (link table, owner column, member column)
    links: ClassVar[Mapping[str, tuple[str, str, str]]] = {}
    json_columns: ClassVar[tuple[str, ...]] = ()
    # Columns whose values repeat across rows (a handful of roles and titles). They, and the
    # ids of parents and links, are listed as one shared string each: SQLite hands out a new
    # string per row, 35 MB of copies in a listing of 100k users.
    repeated: ClassVar[tuple[str, ...]] = ()
    converted: ClassVar[tuple[str, ...]] = ()  # columns `_read` turns into other fields

    def list_all(self) -> list[LiveResource]:
        with self.lms._lock:
            if self.lms._unopened():
                return []
            rows = self.lms.reader.execute(_listing_query(type(self)))
            names = [d[0] for d in rows.description]
            # row by row from the cursor: 100k users never sit in memory twice
            return [self._live(dict(zip(names, values, strict=True))) for values in rows]

    def _live(self, row: dict[str, Any]) -> LiveResource:
        """One row of the listing query turned into the resource's attributes in place: most
        columns are named as fields already; ids, links and JSON are converted here, the
        rest by `_read`."""
        row_id = row.pop("id")
        for field in self.repeated:
            if row[field] is not None:
                row[field] = sys.intern(row[field])
        for field in self.parents:
            if row[field] is not None:
                row[field] = sys.intern(str(row[field]))
        for field in self.links:
            row[field] = [sys.intern(i) for i in row[field].split(",")] if row[field] else []
        for field in self.json_columns:
            row[field] = {} if row[field] == "{}" else json.loads(row[field])
        self._read(row)
        return LiveResource(str(row_id), row)

    def _read(self, row: dict[str, Any]) -> None:
        """Turn the `converted` columns of a listed row into fields."""

    def _insert(self, attrs: dict[str, Any]) -> str:
        row = {"created_at": _now(), **self._columns(attrs)}
        sql = (f"INSERT INTO {self.table} ({', '.join(row)}) "
               f"VALUES ({', '.join('?' for _ in row)})")
        new_id = self.lms.db.execute(sql, list(row.values())).lastrowid
        assert new_id is not None
        self._write_children(new_id, attrs)
        return str(new_id)

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        with self.lms._lock, self.lms._transaction(f"update {self.kind} {id}"):
            db = self.lms.db
            changes = dict(changes)
            if "custom" in changes:
                (current,) = db.execute(
                    f"SELECT custom FROM {self.table} WHERE id = ?", (int(id),)
                ).fetchone()
                changes["custom"] = {**json.loads(current), **(changes["custom"] or {})}
            row = self._columns(changes)
            if row:
                assignments = ", ".join(f"{c} = ?" for c in row)
                cursor = db.execute(
                    f"UPDATE {self.table} SET {assignments} WHERE id = ?",
                    [*row.values(), int(id)])
                if cursor.rowcount == 0:
                    raise ProviderError(f"update {self.kind} {id}", "not found", status=404)
            self._write_children(int(id), changes, replace=True)

    def delete(self, id: str) -> None:
        self.lms._delete_row(self.table, self.kind, id)

    def _columns(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Canonical attributes -> the table's own columns (links are written separately)."""
        row = {c: attrs[c] for c in self.columns if c in attrs}
        for field, column in self.parents.items():
            if field in attrs:
                row[column] = None if attrs[field] is None else int(attrs[field])
        for column in [c for c in self.json_columns if c in attrs]:
            row[column] = json.dumps(attrs[column] or ({} if column == "custom" else []))
        self._write(attrs, row)
        return row

    def _write(self, attrs: dict[str, Any], row: dict[str, Any]) -> None:
        """Set the columns of the fields stored otherwise than as they are."""

    def _write_children(self, owner_id: int, attrs: dict[str, Any],
                        replace: bool = False) -> None:
        db = self.lms.db
        for field, (table, owner, member) in self.links.items():
            if field not in attrs:
                continue
            if replace:
                db.execute(f"DELETE FROM {table} WHERE {owner} = ?", (owner_id,))
            db.executemany(f"INSERT INTO {table} ({owner}, {member}) VALUES (?, ?)",
                           [(owner_id, int(m)) for m in attrs[field] or []])


class Regions(Rows):
    table, columns = "regions", ("name",)


class Divisions(Rows):
    table, columns = "divisions", ("name",)
    parents = {"region": "region_id"}


class Departments(Rows):
    table, columns = "departments", ("name",)
    parents = {"division": "division_id"}


class Courses(Rows):
    """Courses, with their prices in a table of their own."""

    table, columns = "courses", ("key", "title", "description", "credits")
    json_columns = ("categories", "custom")
    converted = ("published",)

    def list_all(self) -> list[LiveResource]:
        with self.lms._lock:
            found = super().list_all()
            prices = self._prices() if found else {}
        for live in found:
            live.attrs["pricing"] = prices.get(int(live.id), [])
        return found

    def _prices(self) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = defaultdict(list)
        rows = self.lms.reader.execute(
            "SELECT course_id, plan, amount, currency, billing FROM course_prices"
        )
        for course_id, plan, amount, currency, billing in rows:
            found[course_id].append(
                {"plan": plan, "amount": amount, "currency": currency, "billing": billing}
            )
        return found

    def _read(self, row: dict[str, Any]) -> None:
        row["published"] = bool(row["published"])

    def _write(self, attrs: dict[str, Any], row: dict[str, Any]) -> None:
        if "credits" in row and row["credits"] is not None:
            row["credits"] = float(row["credits"])
        if "published" in attrs:
            row["published"] = int(bool(attrs["published"]))

    def _write_children(self, owner_id: int, attrs: dict[str, Any],
                        replace: bool = False) -> None:
        super()._write_children(owner_id, attrs, replace)
        if "pricing" not in attrs:
            return
        db = self.lms.db
        if replace:
            db.execute("DELETE FROM course_prices WHERE course_id = ?", (owner_id,))
        db.executemany(
            "INSERT INTO course_prices (course_id, plan, amount, currency, billing) "
            "VALUES (?, ?, ?, ?, ?)",
            [(owner_id, plan, p["amount"], p["currency"], p["billing"])
             for plan, p in (attrs["pricing"] or {}).items()],
        )


class Groups(Rows):
    table, columns = "groups_", ("name", "description")
    links = {"courses": ("group_courses", "group_id", "course_id")}


class Users(Rows):
    """Users, switched off rather than deleted where the settings say so."""

    table = "users"
    columns = ("email", "first_name", "last_name", "username", "employee_id", "job_title",
               "role")
    parents = {"department": "department_id"}
    links = {"groups": ("user_groups", "user_id", "group_id"),
             "enrollments": ("enrollments", "user_id", "course_id")}
    json_columns = ("custom",)
    repeated = ("role", "job_title")
    converted = ("active",)

    def deactivate(self, id: str) -> None:
        self.lms.update(self.kind, id, {"active": False}, {})

    def _read(self, row: dict[str, Any]) -> None:
        row["active"] = bool(row["active"])

    def _write(self, attrs: dict[str, Any], row: dict[str, Any]) -> None:
        if "active" in attrs:
            row["active"] = int(attrs["active"] is not False)
        if attrs.get("password"):
            row["password_hash"] = _hash_password(attrs["password"])


class Coupons(Rows):
    """Coupons, whose code cannot change once issued."""

    table, columns = "coupons", ("code", "usage_limit", "expires")
    links = {"courses": ("coupon_courses", "coupon_id", "course_id")}
    converted = ("percent", "amount", "currency")
    replace_fields = frozenset({"code"})

    def _read(self, row: dict[str, Any]) -> None:
        percent, amount, currency = row.pop("percent"), row.pop("amount"), row.pop("currency")
        row["discount"] = ({"percent": percent} if percent is not None
                           else {"amount": amount, "currency": currency})

    def _write(self, attrs: dict[str, Any], row: dict[str, Any]) -> None:
        if "discount" in attrs:
            discount = attrs["discount"]
            row["percent"] = discount.get("percent")
            row["amount"] = discount.get("amount")
            row["currency"] = discount.get("currency")


class Whole(Stored):
    """A kind the local LMS has no table for (one a plugin or a test registers): kept whole,
    as JSON, in one table for every such kind."""

    def list_all(self) -> list[LiveResource]:
        with self.lms._lock:
            if self.lms._unopened():
                return []
            try:
                rows = self.lms.reader.execute(
                    "SELECT id, attrs FROM other_resources WHERE kind = ?", (self.kind,))
            except sqlite3.OperationalError:  # a file made before the table was
                return []
            return [LiveResource(str(row_id), json.loads(attrs)) for row_id, attrs in rows]

    def _insert(self, attrs: dict[str, Any]) -> str:
        cursor = self.lms.db.execute(
            "INSERT INTO other_resources (kind, attrs, created_at) VALUES (?, ?, ?)",
            (self.kind, json.dumps(attrs), _now()))
        assert cursor.lastrowid is not None
        return str(cursor.lastrowid)

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        with self.lms._lock, self.lms._transaction(f"update {self.kind} {id}"):
            db = self.lms.db
            found = db.execute("SELECT attrs FROM other_resources WHERE id = ? AND kind = ?",
                               (int(id), self.kind)).fetchone()
            if found is None:
                raise ProviderError(f"update {self.kind} {id}", "not found", status=404)
            db.execute("UPDATE other_resources SET attrs = ? WHERE id = ?",
                       (json.dumps({**json.loads(found[0]), **changes}), int(id)))

    def delete(self, id: str) -> None:
        self.lms._delete_row("other_resources", self.kind, id)


TABLES: dict[str, type[Rows]] = {
    "region": Regions, "division": Divisions, "department": Departments, "course": Courses,
    "group": Groups, "user": Users, "coupon": Coupons}


class EveryKind(Mapping[str, type[Handler[Any]]]):
    """The local LMS's handlers: its own tables' kinds, then every other kind registered now
    (`lmsform.kinds`), kept whole."""

    def __getitem__(self, kind: str) -> type[Handler[Any]]:
        if kind in TABLES:
            return TABLES[kind]
        if kind in kinds.names():
            return Whole
        raise KeyError(kind)

    def __iter__(self) -> Iterator[str]:
        yield from TABLES
        yield from (name for name in kinds.names() if name not in TABLES)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class LocalProvider(Provider):
    type_name = "local"
    description = "Embedded LMS in a SQLite file (quick start, tests)"
    settings_model = LocalSettings
    handlers = EveryKind()

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


@functools.cache
def _listing_query(rows: type[Rows]) -> str:
    """A kind's rows: the columns lmsform reads (not creation times nor password hashes),
    parents' id columns named as their fields, and its links' member ids as one
    comma-separated column per field (SQLite gathers them through the link tables' keys,
    faster than Python could)."""
    selected = ", ".join([
        "t.id", *(f"t.{c}" for c in rows.columns),
        *(f't.{column} AS "{field}"' for field, column in rows.parents.items()),
        *(f'(SELECT group_concat({member}) FROM {link} WHERE {owner} = t.id) AS "{field}"'
          for field, (link, owner, member) in rows.links.items()),
        *(f"t.{c}" for c in (*rows.json_columns, *rows.converted))])
    return f"SELECT {selected} FROM {rows.table} AS t ORDER BY t.id"


def _explain(message: str) -> str:
    if message.startswith("UNIQUE constraint failed:"):
        column = message.split(":", 1)[1].strip().split(".")[-1]
        return f"conflict: another resource already has this {column}"
    if message.startswith("FOREIGN KEY constraint failed"):
        return "conflict: it is still in use (users, children or references point at it)"
    return message
