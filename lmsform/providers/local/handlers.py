"""What the embedded LMS keeps of each kind: rows of its own tables (with their parents,
links and prices) for the built-in kinds, and any other kind kept whole as JSON."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import sqlite3
import sys
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from lmsform import kinds
from lmsform.errors import LmsformError, ProviderError
from lmsform.providers.base import Handler
from lmsform.providers.local.database import _explain
from lmsform.providers.local.settings import BATCH_SIZE
from lmsform.resources import LiveResource

if TYPE_CHECKING:  # the database the handlers reach, named in their base class
    from lmsform.providers.local.database import LocalDatabase  # noqa: F401


# Rows an insert statement holds at most (`_insert_rows`).
ROWS_PER_STATEMENT = 256


def _hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)
    return f"pbkdf2${salt.hex()}${digest.hex()}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Stored(Handler["LocalDatabase"], ABC):
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
                outcomes: list[str | LmsformError] = list(self._insert_all(items))
            except sqlite3.IntegrityError:
                db.execute("ROLLBACK TO batch")
                outcomes = [self._insert_alone(a) for a in items]
            db.execute("RELEASE batch")
        return outcomes

    def _insert_all(self, items: list[dict[str, Any]]) -> list[str]:
        """Write new resources, in the caller's transaction; their ids, in order."""
        return [self._insert(attrs) for attrs in items]

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

    def _insert_all(self, items: list[dict[str, Any]]) -> list[str]:
        """A batch written a statement per table (per set of columns), not a few per
        resource: the ids are the ones SQLite would give one insert after another (past the
        largest it ever gave), so the links can be written with their owners'. A batch of
        users took three times as long one insert at a time."""
        db, now = self.lms.db, _now()
        (largest,) = db.execute(
            f"SELECT max(coalesce((SELECT max(id) FROM {self.table}), 0), coalesce(("
            "SELECT seq FROM sqlite_sequence WHERE name = ?), 0))", (self.table,)).fetchone()
        owners = list(enumerate(items, start=largest + 1))
        rows: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for new_id, attrs in owners:
            row = {"id": new_id, "created_at": now, **self._columns(attrs)}
            rows[tuple(row)].append(tuple(row.values()))
        for columns, values in rows.items():
            _insert_rows(db, self.table, columns, values)
        self._write_links(owners)
        for new_id, attrs in owners:
            self._write_more(new_id, attrs)
        return [str(new_id) for new_id, _ in owners]

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
        self._write_links([(owner_id, attrs)], replace)
        self._write_more(owner_id, attrs, replace)

    def _write_links(self, owners: list[tuple[int, dict[str, Any]]],
                     replace: bool = False) -> None:
        """The link tables' rows of these owners (id, attributes): a statement per table."""
        db = self.lms.db
        for field, (table, owner, member) in self.links.items():
            written = [(owner_id, attrs[field]) for owner_id, attrs in owners if field in attrs]
            if not written:
                continue
            if replace:
                db.executemany(f"DELETE FROM {table} WHERE {owner} = ?",
                               [(owner_id,) for owner_id, _ in written])
            _insert_rows(db, table, (owner, member),
                         [(owner_id, int(m)) for owner_id, members in written
                          for m in members or []])

    def _write_more(self, owner_id: int, attrs: dict[str, Any], replace: bool = False) -> None:
        """Write what a kind keeps beside its row and links (a course's prices)."""


def _insert_rows(db: sqlite3.Connection, table: str, columns: tuple[str, ...],
                 rows: list[tuple[Any, ...]]) -> None:
    """Rows written in statements of many rows each (`INSERT ... VALUES (...), (...)`), not
    a statement per row (`executemany`).

    The sqlite3 module lets go of the interpreter's lock at every step of a statement, and
    gets it back only when the thread holding it gives it up (every 5 ms): while the apply's
    main thread records what finished, each row of an `executemany` waited for it. 100k users
    with their groups took 3.2 s that way in an apply, 0.5 s alone; a statement of many rows
    is one step.

    A statement holds `ROWS_PER_STATEMENT` rows (fewer where SQLite's limit on parameters
    says so, one row at least), then the rest in powers of two: a table is written by a
    handful of statements whatever a batch's size, so SQLite compiles each once and its
    statement cache never holds hundreds of large ones."""
    most = min(ROWS_PER_STATEMENT,
               max(1, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns)))
    one = f"({', '.join('?' for _ in columns)})"
    start = 0
    while start < len(rows):
        left = len(rows) - start
        size = most if left >= most else 1 << (left.bit_length() - 1)
        chunk = rows[start:start + size]
        db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                   f"{', '.join([one] * size)}", [v for row in chunk for v in row])
        start += size


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

    def _write_more(self, owner_id: int, attrs: dict[str, Any], replace: bool = False) -> None:
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
    """Groups, whose members take their courses for as long as they are members."""

    table, columns = "groups_", ("name", "description")
    links = {"courses": ("group_courses", "group_id", "course_id")}
    member_access = frozenset({"courses"})


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
