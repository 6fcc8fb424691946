"""The coursetoolkit provider against the Course Toolkit simulator, over real sockets.

Course Toolkit has no list call, so what the account holds is checked with get-user (the
documented read) and, where only a list would tell (no duplicate was made), through the
simulator's own records. Course access cannot be set through the API: the simulator's `grant`
stands for an account owner setting it in Course Toolkit.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmsform.providers.coursetoolkit import CoursetoolkitProvider, CoursetoolkitSettings
from lmsform_simulators.base import Faults
from lmsform_simulators.coursetoolkit import CoursetoolkitSimulator
from tests.providers.hostile import add_hostile
from tests.support import ConfigDir, Simulators, assert_export_round_trips, copy_example, recorded

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "coursetoolkit"
DEFAULT_URL = "${env:COURSETOOLKIT_URL:-http://127.0.0.1:8084/api}"
ACCOUNT = {"api-user": "523098", "api-key": "sim-key"}
EMAILS = {"ada.lovelace@acme.example", "grace.hopper@acme.example",
          "linus.pauling@acme.example"}


class Account(ConfigDir):
    """The example in a temporary directory, pointed at a simulator served for the test."""

    def __init__(self, root: Path, simulators: Simulators,
                 sim: CoursetoolkitSimulator | None = None) -> None:
        self.sim = simulators.start(sim or CoursetoolkitSimulator())
        self.http = simulators.http(self.sim)
        self.api = self.sim.api_url
        super().__init__(copy_example(EXAMPLE, root / "coursetoolkit", {
            DEFAULT_URL: self.api, "../../state/coursetoolkit.json": "state.json"}))

    def get_user(self, userid: str) -> dict[str, Any]:
        answer = self.http.post(self.api, data={**ACCOUNT, "api-action": "get-user",
                                                "userid": userid})
        return dict(answer.json())

    def state(self) -> dict[str, str]:
        """address -> account number, as lmsform recorded them"""
        resources = recorded(self.dir / "state.json")
        return {address: entry["id"] for address, entry in resources.items()}

    def emails(self) -> list[str]:
        """Every account's email, duplicates included: only the simulator can list them."""
        return sorted(u["email"] for u in self.sim.users.values())

    def assert_converged_and_state_matches(self) -> None:
        plan = self.run("plan", "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        for address, userid in self.state().items():
            assert self.get_user(userid)["email"].lower() == address.removeprefix("user.")


@pytest.fixture
def account(tmp_path: Path, simulators: Simulators) -> Account:
    return Account(tmp_path, simulators)


def test_the_example_applies_and_converges(account: Account) -> None:
    plan = account.run("plan")
    assert plan.output.count("Course Toolkit answers an existing account with this email: "
                             "it is adopted, never duplicated") == 3
    account.apply()
    assert account.emails() == sorted(EMAILS)
    assert {a.removeprefix("user.") for a in account.state()} == EMAILS
    account.assert_converged_and_state_matches()
    converged = account.run("plan")
    assert "users unknown (the LMS cannot list them)" in converged.output
    assert "the 3 lmsform knows were read one by one" in converged.output


def test_an_existing_account_is_adopted_not_duplicated(account: Account) -> None:
    existing = account.sim.seed_user("Grace.Hopper@acme.example")
    account.apply()
    assert account.state()["user.grace.hopper@acme.example"] == existing
    assert sorted(e.lower() for e in account.emails()) == sorted(EMAILS)
    account.assert_converged_and_state_matches()


def test_a_removed_user_is_removed(account: Account) -> None:
    account.apply()
    ada = account.state()["user.ada.lovelace@acme.example"]
    account.edit("people.yaml", "  - email: ada.lovelace@acme.example\n", "")
    plan = account.run("plan")
    assert "- user.ada.lovelace@acme.example" in plan.output, plan.output
    account.apply()
    assert account.get_user(ada)["response"] != 0
    assert "user.ada.lovelace@acme.example" not in account.state()
    account.assert_converged_and_state_matches()


def test_lost_answers_create_and_remove_nothing_twice(tmp_path: Path,
                                                      simulators: Simulators) -> None:
    account = Account(tmp_path, simulators,
                      CoursetoolkitSimulator(faults=Faults(drop_every=2, fail_every=5)))
    account.apply()
    assert account.emails() == sorted(EMAILS)
    account.edit("people.yaml", "  - email: grace.hopper@acme.example\n", "")
    account.apply()
    assert account.emails() == sorted(EMAILS - {"grace.hopper@acme.example"})
    account.sim.faults = Faults()
    account.assert_converged_and_state_matches()


def test_course_access_is_read_and_a_change_is_refused_naming_the_course(
    account: Account,
) -> None:
    account.apply()
    linus = account.state()["user.linus.pauling@acme.example"]
    account.sim.grant(linus, "101", "all")
    account.sim.grant(linus, "202", "3,4")
    refused = account.run("plan")
    assert refused.exit_code == 1
    assert "cannot change enrollments (removes 101)" in refused.output
    assert "set it in Course Toolkit" in refused.output
    account.edit("people.yaml", "    enrollments: []          # must have no full course "
                 "access", "    enrollments: [101]\n    custom: {modules: {'202': [4, 3]}}")
    account.assert_converged_and_state_matches()
    account.edit("people.yaml", "[4, 3]", "[4]")
    refused = account.run("plan")
    assert refused.exit_code == 1 and "cannot change custom" in refused.output


def test_a_new_user_whose_account_lacks_the_declared_access_is_recorded_and_reported(
    account: Account,
) -> None:
    account.edit("people.yaml", "  - email: ada.lovelace@acme.example\n",
                 "  - email: ada.lovelace@acme.example\n    enrollments: [101]\n")
    account.apply()  # the account is made, and recorded: never lost from state
    ada = account.state()["user.ada.lovelace@acme.example"]
    refused = account.run("plan")
    assert refused.exit_code == 1
    assert "cannot change enrollments (adds 101)" in refused.output
    assert "set it in Course Toolkit" in refused.output
    account.sim.grant(ada, "101", "all")  # the owner grants it in Course Toolkit
    account.assert_converged_and_state_matches()
    assert account.emails() == sorted(EMAILS)


def test_what_the_api_cannot_do_is_refused(account: Account) -> None:
    account.write("settings.yaml", "settings: {prune: true}\n")
    account.edit("lmsform.yaml", "settings:\n  user_removal: delete   # Course Toolkit cannot "
                 "switch a user off: a removed user is removed\n", "")
    account.write("courses.yaml", "courses:\n  - {key: '101', title: Intro}\n")
    account.edit("people.yaml", "  - email: grace.hopper@acme.example\n",
                 "  - email: grace.hopper@acme.example\n    first_name: Grace\n")
    refused = account.run("validate")
    assert refused.exit_code == 1
    assert "cannot list users" in refused.output  # prune
    assert "does not manage courses" in refused.output
    assert "does not support the user field 'first_name'" in refused.output


def test_removing_a_user_needs_user_removal_delete(account: Account) -> None:
    account.apply()
    account.edit("lmsform.yaml", "user_removal: delete", "user_removal: deactivate")
    account.edit("people.yaml", "  - email: ada.lovelace@acme.example\n", "")
    refused = account.run("plan")
    assert refused.exit_code == 1 and "cannot deactivate users" in refused.output


class InFlight(httpx.HTTPTransport):
    """Counts get-user calls and the most requests in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.now = self.most = self.reads = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.reads += b"api-action=get-user" in request.content
        try:
            return super().handle_request(request)
        finally:
            with self.lock:
                self.now -= 1


def test_n_users_are_read_with_n_concurrent_get_user_calls(tmp_path: Path,
                                                          simulators: Simulators) -> None:
    sim = simulators.start(CoursetoolkitSimulator(faults=Faults(latency_ms=20)))
    ids = [sim.seed_user(f"u{n}@example.com") for n in range(40)]
    transport = InFlight()
    settings = CoursetoolkitSettings.model_validate({
        "type": "coursetoolkit", "base_url": sim.api_url, "account_id": "523098",
        "api_key": "sim-key", "max_concurrency": 8})
    provider = CoursetoolkitProvider(settings, tmp_path, transport=transport)
    try:
        users = provider.read("user", [*ids, "999999999"])
    finally:
        provider.close()
    assert sorted(u.id for u in users) == sorted(ids)  # the unknown account is left out
    assert transport.reads == 41
    assert 1 < transport.most <= 8


def test_the_api_key_never_shows(account: Account) -> None:
    account.apply()
    verbose = account.run("plan", "-v", "--debug")
    assert "sim-key" not in verbose.output
    assert "sim-key" not in (account.dir / "state.json").read_text()
    account.edit("lmsform.yaml", "sim-key", "wrong-key")
    refused = account.run("plan")
    assert refused.exit_code == 1 and "wrong-key" not in refused.output
    assert "POST /api (get-user): " in refused.output, refused.output


def test_export_round_trips_with_the_users_the_state_knows(account: Account,
                                                           tmp_path: Path) -> None:
    account.apply()
    account.sim.seed_user("someone.else@acme.example")  # cannot be seen: no list call
    output = assert_export_round_trips(account, tmp_path / "exported")
    assert "not exported: users: coursetoolkit cannot list them; exported the 3 the " \
           "source's state knows" in output
    assert "someone.else" not in (tmp_path / "exported" / "users.yaml").read_text()


def test_names_that_look_like_url_syntax_are_data(tmp_path: Path,
                                                  simulators: Simulators) -> None:
    """Emails holding `#`, `?`, `/`, `%2F`, `&` and `=` (the API takes forms: `&` and `=`
    are its syntax), in one apply whose answers are dropped now and then."""
    account = Account(tmp_path, simulators, CoursetoolkitSimulator(faults=Faults(drop_every=4)))
    emails, _ = add_hostile(account, groups=False)
    applied = account.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    account.sim.faults = Faults()
    assert {e.lower() for e in emails} <= {e.lower() for e in account.emails()}
    assert len(account.emails()) == len(set(account.emails()))
    account.assert_converged_and_state_matches()
