"""The postgres state backend, against the real server every machine of this project runs
(127.0.0.1:5432, trust authentication, database `test`; LMSFORM_TEST_POSTGRES_DSN names
another). Each test works in a schema of its own, dropped afterwards. Without a server these
tests skip, unless LMSFORM_REQUIRE_POSTGRES is set (CI sets it: they must run there)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsform.backends import StateBackend
from lmsform.backends.postgres import (
    PostgresBackend,
    PostgresSettings,
    StateConflictError,
    _version,
)
from lmsform.errors import LmsformError
from lmsform.state import State, StateEntry, StateFile
from lmsform.testing import StateBackendConformance
from tests.support import Org

psycopg = pytest.importorskip("psycopg")
DSN = os.environ.get("LMSFORM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def server() -> str:
    try:
        psycopg.connect(DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get("LMSFORM_REQUIRE_POSTGRES"):
            pytest.fail(f"LMSFORM_REQUIRE_POSTGRES is set, but no PostgreSQL answers: {exc}")
        pytest.skip(f"no PostgreSQL server for LMSFORM_TEST_POSTGRES_DSN: {exc}")
    return DSN


@pytest.fixture
def schema(server: str) -> Iterator[str]:
    name = f"lmsform_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def backend(schema: str, name: str = "acme", dsn: str = DSN) -> PostgresBackend:
    settings = PostgresSettings.model_validate({"backend": "postgres", "dsn": dsn,
                                                "name": name, "schema": schema})
    return PostgresBackend(settings, Path("."))


def use_postgres(org: Org, schema: str, dsn: str = "${env:LMSFORM_STATE_DSN}") -> None:
    org.write("main.yaml", f"""\
        version: 1
        provider: {{type: local, path: lms.sqlite}}
        state: {{backend: postgres, dsn: "{dsn}", name: acme, schema: {schema}}}
        """)


@pytest.fixture
def pg_org(org: Org, schema: str, monkeypatch: pytest.MonkeyPatch) -> Org:
    monkeypatch.setenv("LMSFORM_STATE_DSN", DSN)
    use_postgres(org, schema)
    return org


def lmsform(org: Org, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """lmsform in a process of its own, as a second CI runner would run it."""
    return subprocess.Popen([sys.executable, "-m", "lmsform", *args, "-C", str(org.dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})


def test_a_whole_apply_keeps_its_state_in_postgres(pg_org: Org, schema: str) -> None:
    pg_org.apply()
    plan = pg_org.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    listed = pg_org.run("state", "list").output
    assert "user.ada@example.com" in listed
    with psycopg.connect(DSN) as conn:
        (name, serial, journal), = conn.execute(
            f"SELECT name, serial, (SELECT count(*) FROM {schema}.journal) "
            f"FROM {schema}.states").fetchall()
    assert (name, serial, journal) == ("acme", 1, 0)  # the journal is folded in at the end


class ReleaseWhenWaited(logging.Handler):
    """Lets the holder (a process reading its stdin) go once a run says it waits."""

    def __init__(self, holder: subprocess.Popen[str]) -> None:
        super().__init__()
        self.holder = holder
        self.waited = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("waiting up to") and not self.waited:
            self.waited = True
            assert self.holder.stdin is not None
            self.holder.stdin.write("release\n")
            self.holder.stdin.flush()


def test_the_lock_names_its_holder_and_a_second_run_can_wait(pg_org: Org, schema: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from lmsform.backends.postgres import PostgresBackend, PostgresSettings
        b = PostgresBackend(PostgresSettings.model_validate(
            {{"backend": "postgres", "dsn": {DSN!r}, "name": "acme", "schema": {schema!r}}}),
            Path("."))
        with b.lock("apply"):
            print("held", flush=True)
            sys.stdin.readline()  # held until the test says a run waits for it
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    release = ReleaseWhenWaited(holder)
    logging.getLogger("lmsform.backends").addHandler(release)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = pg_org.run("apply", "--auto-approve")
        assert refused.exit_code == 1
        assert f"pid {holder.pid} on {socket.gethostname()}" in refused.output
        assert "'apply' since" in refused.output
        assert not release.waited  # no --lock-timeout: refused at once
        waited = pg_org.run("apply", "--auto-approve", "--lock-timeout", "20s")
        assert waited.exit_code == 0, waited.output
        assert release.waited  # it did wait: the lock was held until then
    finally:
        logging.getLogger("lmsform.backends").removeHandler(release)
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=20)


def test_two_applies_at_once_never_write_over_each_other(pg_org: Org) -> None:
    runs = [lmsform(pg_org, "apply", "--auto-approve") for _ in range(2)]
    outputs = [(r.wait(timeout=60), r.communicate()[0]) for r in runs]
    assert 0 in [code for code, _ in outputs], outputs
    for code, output in outputs:
        assert code == 0 or "the state is locked by" in output, output
    assert pg_org.run("plan", "--detailed-exitcode").exit_code == 0
    with sqlite3.connect(pg_org.db_path) as db:
        assert db.execute("SELECT count(*), count(DISTINCT email) FROM users").fetchone() == (2, 2)


def test_a_killed_apply_loses_nothing_and_the_next_one_converges(pg_org: Org,
                                                                 schema: str) -> None:
    users = "".join(f"  - email: user{n}@example.com\n" for n in range(1500))
    pg_org.write("many.yaml", "users:\n" + users)
    # Its output goes nowhere: a full pipe would stop it before its first operation.
    run = subprocess.Popen([sys.executable, "-m", "lmsform", "apply", "--auto-approve",
                            "--parallelism", "2", "-C", str(pg_org.dir)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "LMSFORM_STATE_DSN": DSN})
    journaled = 0
    with psycopg.connect(DSN, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while journaled < 50 and time.monotonic() < deadline and run.poll() is None:
            with contextlib.suppress(psycopg.errors.UndefinedTable):
                journaled = conn.execute(f"SELECT count(*) FROM {schema}.journal").fetchone()[0]
            time.sleep(0.005)
        assert run.poll() is None, "the apply ended before it could be killed"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        left = conn.execute(f"SELECT count(*) FROM {schema}.journal").fetchone()[0]
        assert 50 <= left < 1509  # killed half-way: a journal, and no snapshot yet
        assert conn.execute(f"SELECT count(*) FROM {schema}.states").fetchone() == (0,)
    assert backend(schema).lock_holder() is None  # died with its connection: nothing to force
    again = pg_org.run("apply", "--auto-approve")
    assert again.exit_code == 0, again.output
    assert pg_org.run("plan", "--detailed-exitcode").exit_code == 0
    with sqlite3.connect(pg_org.db_path) as db:
        assert db.execute("SELECT count(*), count(DISTINCT email) FROM users").fetchone() == (
            1502, 1502)


def test_a_write_whose_serial_moved_on_is_refused(schema: str) -> None:
    first, second = backend(schema), backend(schema)
    try:
        a, b = State.load(first), State.load(second)
        a.put("group.Managers", StateEntry(kind="group", id="1"))
        a.save()
        b.put("group.Leads", StateEntry(kind="group", id="2"))
        with pytest.raises(StateConflictError, match=r"changed by someone else since it was "
                                                     r"read \(serial none, now 1\)"):
            b.save()
        again = State.load(second)
        assert set(again.resources) == {"group.Managers"}  # the first write was not lost
        again.put("group.Leads", StateEntry(kind="group", id="2"))
        again.save()
        with pytest.raises(StateConflictError, match=r"\(serial 1, now 2\)"):
            a.save()
    finally:
        first.close()
        second.close()


def test_a_record_json_cannot_hold_loses_no_other_of_its_batch(schema: str) -> None:
    """The batch's other records are operations the LMS did: journaled, then the refusal."""
    journal = backend(schema)
    try:
        with pytest.raises(TypeError, match="not JSON serializable"):
            journal.append_all([{"put": "group.A"}, {"put": "group.B", "at": {1, 2}},
                                {"put": "group.C"}])
        assert [record["put"] for record in journal.replay()] == ["group.A", "group.C"]
    finally:
        journal.close()


def test_the_state_migrates_to_postgres_and_back(org: Org, schema: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    org.apply()
    before = json.loads(org.state_path.read_text())
    monkeypatch.setenv("LMSFORM_STATE_DSN", DSN)
    target = f"{{backend: postgres, dsn: '${{env:LMSFORM_STATE_DSN}}', name: acme, " \
             f"schema: {schema}}}"
    moved = org.run("state", "migrate", "--to", target)
    assert moved.exit_code == 0, moved.output
    assert f"lineage {before['lineage']}, serial {before['serial']}" in moved.output
    assert org.run("state", "migrate", "--to", target).exit_code == 1  # never replaced...
    assert org.run("state", "migrate", "--to", target, "--force").exit_code == 0  # ...unasked
    use_postgres(org, schema)
    assert org.run("plan", "--detailed-exitcode").exit_code == 0
    org.apply()  # nothing to do: the state is where it was
    back = org.run("state", "migrate", "--to", "{backend: file, path: back.json}")
    assert back.exit_code == 0, back.output
    returned = json.loads((org.dir / "back.json").read_text())
    assert (returned["lineage"], returned["serial"]) == (before["lineage"], before["serial"])
    assert returned["resources"] == before["resources"]
    org.write("main.yaml", "version: 1\nprovider: {type: local, path: lms.sqlite}\n"
                           "state: {path: back.json}\n")
    assert org.run("plan", "--detailed-exitcode").exit_code == 0


def test_the_password_never_shows(org: Org, schema: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "pw-Secret-8cf1"
    monkeypatch.setenv("LMSFORM_STATE_DSN", DSN.replace("postgres@", f"postgres:{secret}@"))
    use_postgres(org, schema)
    applied = org.run("-v", "apply", "--auto-approve", "--debug")
    assert applied.exit_code == 0 and secret not in applied.output
    assert "127.0.0.1:5432/test" in applied.output
    with psycopg.connect(DSN) as conn:
        (snapshot,), = conn.execute(f"SELECT snapshot FROM {schema}.states").fetchall()
    assert secret not in snapshot
    monkeypatch.setenv("LMSFORM_STATE_DSN", f"postgresql://postgres:{secret}@127.0.0.1:1/test")
    refused = org.run("plan", "--debug")
    assert refused.exit_code == 1 and secret not in refused.output
    assert "cannot connect to the state database at 127.0.0.1:1/test" in refused.output


def test_a_lost_connection_while_locked_stops_rather_than_writing_unlocked(schema: str) -> None:
    held = backend(schema)
    try:
        with held.lock("apply"):
            state = State.load(held)
            pid = held._connection().info.backend_pid
            with psycopg.connect(DSN, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(LmsformError):  # the first call finds the session ended
                state.put("group.Managers", StateEntry(kind="group", id="1"))
                held.append({"put": "group.Managers", "entry": {"kind": "group", "id": "1"}})
            with pytest.raises(LmsformError, match="lost the connection to the state"):
                held.append({"put": "group.Leads", "entry": {"kind": "group", "id": "2"}})
        assert backend(schema).lock_holder() is None
    finally:
        held.close()


def test_a_snapshots_lineage_and_serial_are_read_from_its_head_or_from_the_whole() -> None:
    written = StateFile(serial=7, resources={"group.A": StateEntry(kind="group", id="1")})
    assert _version(written.model_dump_json(indent=2)) == (written.lineage, 7)
    assert _version('{"serial": 3, "lineage": "other-layout"}') == ("other-layout", 3)
    with pytest.raises(LmsformError, match="without lineage and serial"):
        _version('{"format_version": 1}')


@pytest.mark.parametrize("snapshot", ["{}", '{"format_version": 1, "serial": 2, '
                                            '"resources": {}}'])
def test_a_snapshot_without_its_lineage_is_damaged_here_too(schema: str, snapshot: str) -> None:
    """Written by hand or by another tool: read as an empty state it would lose everything
    lmsform manages."""
    store = backend(schema)
    try:
        State.load(store).save()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f"UPDATE {schema}.states SET snapshot = %s", (snapshot,))
        with pytest.raises(LmsformError, match="is damaged, or not lmsform's state"):
            State.load(backend(schema))
    finally:
        store.close()


def test_a_journal_record_that_is_not_lmsforms_is_damaged_here_too(schema: str) -> None:
    store = backend(schema)
    try:
        state = State.load(store)
        state.save()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {schema}.journal (name, record) VALUES ('acme', 'x{{')")
        with pytest.raises(LmsformError, match=r"journal .* is damaged"):
            State.load(backend(schema))
    finally:
        store.close()


def test_a_role_that_may_only_read_the_state_can_plan(pg_org: Org, schema: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan job's credentials read the state and write nothing: no DDL is run when the
    tables are there (PostgreSQL refuses CREATE SCHEMA IF NOT EXISTS to such a role)."""
    pg_org.apply()
    role = f"lmsform_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    try:
        reader = DSN.replace("postgresql://postgres@", f"postgresql://{role}@")
        monkeypatch.setenv("LMSFORM_STATE_DSN", reader)
        plan = pg_org.run("plan", "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        refused = pg_org.run("apply", "--auto-approve")  # taking the lock writes: refused
        assert refused.exit_code == 1 and "permission denied" in refused.output
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


class TestPostgresBackendConforms(StateBackendConformance):
    @pytest.fixture(autouse=True)
    def _schema(self, schema: str) -> None:
        self.schema = schema

    def make_backend(self, tmp_path: Path, name: str) -> StateBackend:
        return backend(self.schema, name)
