"""A long list's second half declared by a helper process (`lmsform.config.helper`) loads
exactly as when this process reads it all: the same resources in the same order with the
same places, the same problems said of the same entries, the same syntax error.

Each load runs in a process of its own, as `lmsform` does: the helper forks only where no
other thread runs, and a test process may have some. Runs are made small (a few kB) so that
a few hundred users make many of them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

LOAD = textwrap.dedent("""\
    import json, os, sys
    from pathlib import Path
    from lmsform.config import helper, load_config
    from lmsform.errors import ManifestError
    from lmsform.yamlfile import fast

    fast.PIECE_BYTES = 2048
    if sys.argv[2] != "short":
        helper.MIN_BYTES = 0
    how, parent, original = sys.argv[2], os.getpid(), helper._declare
    helper._may_fork = lambda: how != "here"  # forked even on one processor
    if how == "dies":  # the helper ends without answering: its runs are read here
        helper._declare = lambda *a: os._exit(3) if os.getpid() != parent else original(*a)
    workers = []
    declared = helper.SecondHalf.declared

    def watched(self):
        try:
            yield from declared(self)
        finally:
            workers.append(self.worker)

    helper.SecondHalf.declared = watched
    try:
        config = load_config(Path(sys.argv[1]))
        out = {"resources": [[r.address, r.origin, r.attrs, sorted(r.secrets),
                              r.lifecycle.model_dump(), repr(r.timed)]
                             for r in config.resources.values()]}
    except ManifestError as exc:
        out = {"problems": [str(p) for p in exc.problems]}
    out["helper"] = ["none" if w is None else "here" if w == parent else "forked"
                     for w in workers]
    print(json.dumps(out))
    """)


def _load(directory: Path, how: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", LOAD, str(directory), how],
                          capture_output=True, text=True, check=True)
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def _user(i: int) -> str:
    extra = {
        7: "    lifecycle: {prevent_destroy: true}\n",
        11: "    active_until: 2031-01-01\n",
        13: "    enrollments: [c-1, {course: c-2, from: 2030-01-01}]\n",
    }.get(i % 17, "    enrollments: [c-1]\n")
    return (f"  - email: User{i}@Example.com\n    first_name: ' First {i} '\n"
            f"    department: R/D/P\n    groups: [G{i % 3}, G0]\n{extra}")


def _org(directory: Path, users: int, wrong: dict[int, str] | None = None) -> Path:
    directory.mkdir()
    (directory / "lmsform.yaml").write_text(textwrap.dedent("""\
        provider: {type: local}
        hierarchy:
          - region: R
            divisions: [{division: D, departments: [P]}]
        groups: [{name: G0}, {name: G1}, {name: G2}]
        courses: [{key: c-1, title: One}, {key: c-2, title: Two}]
        """))
    entries = [(wrong or {}).get(i) or _user(i) for i in range(users)]
    (directory / "users.yaml").write_text("users:\n" + "".join(entries))
    return directory


def _both(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    here, helped = _load(directory, "here"), _load(directory, "helped")
    assert here.pop("helper") == []
    assert helped.pop("helper") == ["forked"], "the helper did not declare the second half"
    return here, helped


def test_the_helper_declares_what_this_process_would(tmp_path: Path) -> None:
    here, helped = _both(_org(tmp_path / "org", 400))
    assert len(here["resources"]) == 400 + 3 + 3 + 2
    assert helped == here
    address, (file, place) = here["resources"][-1][:2]
    assert (address, Path(file).name, place) == ("user.user399@example.com", "users.yaml",
                                                 ["users", 399])


def test_an_entry_in_the_helpers_half_is_judged_here_in_its_place(tmp_path: Path) -> None:
    wrong = {
        350: "  - email: not-an-email\n",
        360: "  - email: a360@example.com\n    nickname: x\n",
        370: "  - email: a370@example.com\n    groups: [G0/G1]\n",
        380: "  - email: user1@example.com\n",  # declared at entry 1 already
        390: "  - email: a390@example.com\n    groups: [Nope]\n",
    }
    here, helped = _both(_org(tmp_path / "org", 400, wrong))
    assert helped == here
    said = "\n".join(here["problems"])
    assert len(here["problems"]) == 5, said
    assert "duplicate user 'user1@example.com'" in said and "unknown group 'Nope'" in said


def test_a_run_of_the_helpers_half_that_does_not_parse_is_read_by_the_full_loader(
        tmp_path: Path) -> None:
    here, helped = _both(_org(tmp_path / "org", 400,
                              {390: "  - email: a390@example.com\n    groups: [G0\n"}))
    assert helped == here
    assert len(here["problems"]) == 1 and "users.yaml:" in here["problems"][0]


def test_a_helper_that_dies_leaves_its_runs_to_this_process(tmp_path: Path) -> None:
    directory = _org(tmp_path / "org", 400)
    dead = _load(directory, "dies")
    assert dead.pop("helper") == ["none"]
    assert dead == {k: v for k, v in _load(directory, "here").items() if k != "helper"}


@pytest.mark.parametrize("how", ["short", "helped"])
def test_a_short_list_is_read_here(tmp_path: Path, how: str) -> None:
    """Later runs under `MIN_BYTES` ("short": 400 users), or none at all (3 users)."""
    for users in (400, 3) if how == "short" else (3,):
        directory = _org(tmp_path / f"org-{users}", users)
        loaded = _load(directory, how)
        assert loaded["helper"] == []
        assert len(loaded["resources"]) == users + 8
