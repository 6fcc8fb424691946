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
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field

from lmsform import kinds
from lmsform.checkout import recorded_location
from lmsform.errors import LmsformError, ProviderError, display_path
from lmsform.providers.base import Capabilities, KindSupport, Provider, ProviderSettings
from lmsform.resources import SCHEMAS, LiveResource

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

# kind -> (table, plain columns that map one to one onto canonical fields)
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "region": ("regions", ("name",)),
    "division": ("divisions", ("name",)),
    "department": ("departments", ("name",)),
    "course": ("courses", ("key", "title", "description", "credits")),
    "group": ("groups_", ("name", "description")),
    "user": ("users", ("email", "first_name", "last_name", "username", "employee_id",
                       "job_title", "role")),
    "coupon": ("coupons", ("code", "usage_limit", "expires")),
}
# kind -> field -> (column holding the parent's id)
PARENTS = {"division": {"region": "region_id"}, "department": {"division": "division_id"},
           "user": {"department": "department_id"}}
# kind -> field -> (link table, owner column, member column)
LINKS = {
    "group": {"courses": ("group_courses", "group_id", "course_id")},
    "user": {"groups": ("user_groups", "user_id", "group_id"),
             "enrollments": ("enrollments", "user_id", "course_id")},
    "coupon": {"courses": ("coupon_courses", "coupon_id", "course_id")},
}
# kind -> columns holding JSON
JSON_COLUMNS = {"course": ("categories", "custom"), "user": ("custom",)}
# Columns whose values repeat across rows (a handful of roles and titles). They, and the ids
# of parents and links, are listed as one shared string each: SQLite hands out a new string
# per row, 35 MB of copies in a listing of 100k users.
REPEATED_COLUMNS = {"user": ("role", "job_title")}
# kind -> the columns a listing converts into fields of another type or name
CONVERTED_COLUMNS = {"user": ("active",), "course": ("published",),
                     "coupon": ("percent", "amount", "currency")}


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


class _EveryKind:
    """The local LMS's capabilities: its own tables' kinds, and every other kind registered
    now (`lmsform.kinds`), kept whole."""

    def __get__(self, obj: Any, owner: type) -> Capabilities:
        return _capabilities(tuple(kinds.names()))


@functools.cache
def _capabilities(names: tuple[str, ...]) -> Capabilities:
    tables = {
        **{kind: KindSupport(fields=frozenset(SCHEMAS[kind].fields), batch_create=BATCH_SIZE)
           for kind in ("region", "division", "department", "course", "group")},
        "user": KindSupport(fields=frozenset(SCHEMAS["user"].fields), deactivate=True,
                            batch_create=BATCH_SIZE),
        "coupon": KindSupport(fields=frozenset(SCHEMAS["coupon"].fields),
                              replace_fields=frozenset({"code"}), batch_create=BATCH_SIZE),
    }
    return Capabilities(kinds={**tables, **{
        name: KindSupport(fields=frozenset(SCHEMAS[name].fields), batch_create=BATCH_SIZE)
        for name in names if name not in tables}})


class LocalProvider(Provider):
    type_name = "local"
    description = "Embedded LMS in a SQLite file (quick start, tests)"
    settings_model = LocalSettings
    capabilities: ClassVar[Capabilities] = _EveryKind()  # type: ignore[assignment]

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

    # reading

    def list_all(self, kind: str) -> list[LiveResource]:
        with self._lock:
            if self._db is None and not self.path.exists():
                return []
            if kind not in TABLES:
                return self._list_other(kind)
            prices = self._prices() if kind == "course" else {}
            rows = self.reader.execute(_listing_query(kind))
            names = [d[0] for d in rows.description]
            # row by row from the cursor: 100k users never sit in memory twice
            return [_live(kind, dict(zip(names, values, strict=True)), prices)
                    for values in rows]

    def _list_other(self, kind: str) -> list[LiveResource]:
        try:
            rows = self.reader.execute(
                "SELECT id, attrs FROM other_resources WHERE kind = ?", (kind,))
        except sqlite3.OperationalError:  # a file made before the table was
            return []
        return [LiveResource(str(row_id), json.loads(attrs)) for row_id, attrs in rows]

    def _prices(self) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = defaultdict(list)
        rows = self.reader.execute(
            "SELECT course_id, plan, amount, currency, billing FROM course_prices"
        )
        for course_id, plan, amount, currency, billing in rows:
            found[course_id].append(
                {"plan": plan, "amount": amount, "currency": currency, "billing": billing}
            )
        return found

    # writing

    def create(self, kind: str, attrs: dict[str, Any]) -> str:
        with self._lock, self._transaction(f"create {kind}"):
            return self._insert(kind, attrs)

    def batch_size(self, kind: str) -> int:
        return min(self.settings.batch_size, super().batch_size(kind))

    def create_many(self, kind: str, items: list[dict[str, Any]]
                    ) -> list[str | LmsformError]:
        """Many creates in one transaction (a commit each is most of a large apply's time).
        A refused create is that resource's failure alone: the batch is undone and made
        again one create at a time, each in a savepoint of its own."""
        with self._lock, self._transaction(f"create {len(items)} {kind}s"):
            self.db.execute("SAVEPOINT batch")
            try:
                outcomes: list[str | LmsformError] = [self._insert(kind, a) for a in items]
            except sqlite3.IntegrityError:
                self.db.execute("ROLLBACK TO batch")
                outcomes = [self._insert_alone(kind, a) for a in items]
            self.db.execute("RELEASE batch")
        return outcomes

    def _insert_alone(self, kind: str, attrs: dict[str, Any]) -> str | LmsformError:
        self.db.execute("SAVEPOINT item")
        try:
            return self._insert(kind, attrs)
        except sqlite3.IntegrityError as exc:
            self.db.execute("ROLLBACK TO item")
            return ProviderError(f"create {kind}", _explain(str(exc)), status=409)
        finally:
            self.db.execute("RELEASE item")

    def _insert(self, kind: str, attrs: dict[str, Any]) -> str:
        if kind not in TABLES:
            cursor = self.db.execute(
                "INSERT INTO other_resources (kind, attrs, created_at) VALUES (?, ?, ?)",
                (kind, json.dumps(attrs), _now()))
            assert cursor.lastrowid is not None
            return str(cursor.lastrowid)
        table, _ = TABLES[kind]
        row = {"created_at": _now(), **self._columns(kind, attrs)}
        sql = (f"INSERT INTO {table} ({', '.join(row)}) "
               f"VALUES ({', '.join('?' for _ in row)})")
        new_id = self.db.execute(sql, list(row.values())).lastrowid
        assert new_id is not None
        self._write_children(kind, new_id, attrs)
        return str(new_id)

    def update(
        self, kind: str, id: str, changes: dict[str, Any], before: dict[str, Any]
    ) -> None:
        if kind not in TABLES:
            self._update_other(kind, id, changes)
            return
        table, _ = TABLES[kind]
        with self._lock, self._transaction(f"update {kind} {id}"):
            changes = dict(changes)
            if "custom" in changes:
                (current,) = self.db.execute(
                    f"SELECT custom FROM {table} WHERE id = ?", (int(id),)
                ).fetchone()
                changes["custom"] = {**json.loads(current), **(changes["custom"] or {})}
            row = self._columns(kind, changes)
            if row:
                assignments = ", ".join(f"{c} = ?" for c in row)
                cursor = self.db.execute(
                    f"UPDATE {table} SET {assignments} WHERE id = ?", [*row.values(), int(id)]
                )
                if cursor.rowcount == 0:
                    raise ProviderError(f"update {kind} {id}", "not found", status=404)
            self._write_children(kind, int(id), changes, replace=True)

    def _update_other(self, kind: str, id: str, changes: dict[str, Any]) -> None:
        with self._lock, self._transaction(f"update {kind} {id}"):
            found = self.db.execute("SELECT attrs FROM other_resources WHERE id = ? AND "
                                    "kind = ?", (int(id), kind)).fetchone()
            if found is None:
                raise ProviderError(f"update {kind} {id}", "not found", status=404)
            self.db.execute("UPDATE other_resources SET attrs = ? WHERE id = ?",
                            (json.dumps({**json.loads(found[0]), **changes}), int(id)))

    def delete(self, kind: str, id: str) -> None:
        table = TABLES[kind][0] if kind in TABLES else "other_resources"
        with self._lock, self._transaction(f"delete {kind} {id}"):
            cursor = self.db.execute(f"DELETE FROM {table} WHERE id = ?", (int(id),))
            if cursor.rowcount == 0:
                raise ProviderError(f"delete {kind} {id}", "not found", status=404)

    def deactivate(self, kind: str, id: str) -> None:
        self.update(kind, id, {"active": False}, {})

    def _columns(self, kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """Canonical attributes -> the table's own columns (links are written separately)."""
        _, columns = TABLES[kind]
        row = {c: attrs[c] for c in columns if c in attrs}
        for field, column in PARENTS.get(kind, {}).items():
            if field in attrs:
                row[column] = None if attrs[field] is None else int(attrs[field])
        for column in [c for c in JSON_COLUMNS.get(kind, ()) if c in attrs]:
            row[column] = json.dumps(attrs[column] or ({} if column == "custom" else []))
        if "credits" in row and row["credits"] is not None:
            row["credits"] = float(row["credits"])
        if "published" in attrs:
            row["published"] = int(bool(attrs["published"]))
        if "active" in attrs:
            row["active"] = int(attrs["active"] is not False)
        if attrs.get("password"):
            row["password_hash"] = _hash_password(attrs["password"])
        if "discount" in attrs:
            discount = attrs["discount"]
            row["percent"] = discount.get("percent")
            row["amount"] = discount.get("amount")
            row["currency"] = discount.get("currency")
        return row

    def _write_children(
        self, kind: str, owner_id: int, attrs: dict[str, Any], replace: bool = False
    ) -> None:
        for field, (table, owner, member) in LINKS.get(kind, {}).items():
            if field not in attrs:
                continue
            if replace:
                self.db.execute(f"DELETE FROM {table} WHERE {owner} = ?", (owner_id,))
            self.db.executemany(
                f"INSERT INTO {table} ({owner}, {member}) VALUES (?, ?)",
                [(owner_id, int(m)) for m in attrs[field] or []],
            )
        if kind == "course" and "pricing" in attrs:
            if replace:
                self.db.execute("DELETE FROM course_prices WHERE course_id = ?", (owner_id,))
            self.db.executemany(
                "INSERT INTO course_prices (course_id, plan, amount, currency, billing) "
                "VALUES (?, ?, ?, ?, ?)",
                [(owner_id, plan, p["amount"], p["currency"], p["billing"])
                 for plan, p in (attrs["pricing"] or {}).items()],
            )

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
def _listing_query(kind: str) -> str:
    """A kind's rows: the columns lmsform reads (not creation times nor password hashes),
    parents' id columns named as their fields, and its links' member ids as one
    comma-separated column per field (SQLite gathers them through the link tables' keys,
    faster than Python could)."""
    table, plain = TABLES[kind]
    selected = ", ".join([
        "t.id", *(f"t.{c}" for c in plain),
        *(f't.{column} AS "{field}"' for field, column in PARENTS.get(kind, {}).items()),
        *(f'(SELECT group_concat({member}) FROM {link} WHERE {owner} = t.id) AS "{field}"'
          for field, (link, owner, member) in LINKS.get(kind, {}).items()),
        *(f"t.{c}" for c in (*JSON_COLUMNS.get(kind, ()), *CONVERTED_COLUMNS.get(kind, ())))])
    return f"SELECT {selected} FROM {table} AS t ORDER BY t.id"


def _live(kind: str, row: dict[str, Any], prices: dict[int, list[dict[str, Any]]]
          ) -> LiveResource:
    """One row of a kind's listing query, with its prices, turned into the resource's
    attributes in place: most columns are named as fields already; ids, links, JSON and
    flags are converted here."""
    row_id = row.pop("id")
    for field in REPEATED_COLUMNS.get(kind, ()):
        if row[field] is not None:
            row[field] = sys.intern(row[field])
    for field in PARENTS.get(kind, ()):
        if row[field] is not None:
            row[field] = sys.intern(str(row[field]))
    for field in LINKS.get(kind, ()):
        row[field] = [sys.intern(i) for i in row[field].split(",")] if row[field] else []
    for field in JSON_COLUMNS.get(kind, ()):
        row[field] = {} if row[field] == "{}" else json.loads(row[field])
    if kind == "user":
        row["active"] = bool(row["active"])
    if kind == "course":
        row["published"] = bool(row["published"])
        row["pricing"] = prices.get(row_id, [])
    if kind == "coupon":
        percent, amount, currency = row.pop("percent"), row.pop("amount"), row.pop("currency")
        row["discount"] = ({"percent": percent} if percent is not None
                           else {"amount": amount, "currency": currency})
    return LiveResource(str(row_id), row)


def _explain(message: str) -> str:
    if message.startswith("UNIQUE constraint failed:"):
        column = message.split(":", 1)[1].strip().split(".")[-1]
        return f"conflict: another resource already has this {column}"
    if message.startswith("FOREIGN KEY constraint failed"):
        return "conflict: it is still in use (users, children or references point at it)"
    return message
