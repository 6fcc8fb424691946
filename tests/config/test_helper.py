"""A long list's second half declared by a helper process (`lmsform.config.helper`) loads
exactly as when this process reads it all: the same resources in the same order with the
same places, the same problems said of the same entries, the same syntax error.

Each load runs in a process of its own, as `lmsform` does: the helper forks only where no
other thread runs, and a test process may have some. Runs are made small (a few kB) so that
a few hundred users make many of them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

LOAD = textwrap.dedent("""\
    import contextlib, json, logging, os, signal, sys
    from pathlib import Path
    from lmsform.config import helper, load_config
    from lmsform.errors import ManifestError
    from lmsform.yamlfile import fast

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    fast.PIECE_BYTES = 2048
    if sys.argv[2] != "short":
        helper.MIN_BYTES = 0
    how, parent, original = sys.argv[2], os.getpid(), helper._declare
    helper._processors = lambda: 1 if how == "here" else 2  # forked even on one processor


    def dies(*args):  # killed in the helper, as for memory: its calls are made here
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args)

    if how == "dies":
        helper._declare = dies

    def refused(*args, **kwargs):  # no semaphores for a pool (no /dev/shm): no helper
        raise OSError(30, "Read-only file system")

    if how == "no-pool":
        helper.ProcessPoolExecutor = refused
    workers = []
    answers = helper.Helper.answers

    def watched(self):
        for answer in answers(self):
            workers.append("here" if answer[0] == parent else "forked")
            yield answer

    helper.Helper.answers = watched
    try:
        with helper.unforked() if how == "unforked" else contextlib.nullcontext():
            config = load_config(Path(sys.argv[1]))
        out = {"resources": [[r.address, r.origin, r.attrs, sorted(r.secrets),
                              r.lifecycle.model_dump(), repr(r.timed)]
                             for r in config.resources.values()],
               "settings": config.settings.model_dump(mode="json")}
    except ManifestError as exc:
        out = {"problems": [str(p) for p in exc.problems]}
    out["helper"] = workers  # who answered each call made of a helper
    print(json.dumps(out))
    """)


def _load(directory: Path, how: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", LOAD, str(directory), how],
                          capture_output=True, text=True, check=True)
    loaded: dict[str, Any] = json.loads(done.stdout)
    loaded["failed"] = re.findall(r"the helper failed \((\w+)", done.stderr)
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
    workers = helped.pop("helper")
    assert workers and set(workers) == {"forked"}, f"the helper did not answer: {workers}"
    return here, helped


def test_the_helper_declares_what_this_process_would(tmp_path: Path) -> None:
    here, helped = _both(_org(tmp_path / "org", 400))
    assert len(here["resources"]) == 400 + 3 + 3 + 2
    assert helped == here
    address, (file, place) = here["resources"][-1][:2]
    assert (address, Path(file).name, place) == ("user.user399@example.com", "users.yaml",
                                                 ["users", 399])


def test_where_no_helper_can_be_made_everything_is_read_here(tmp_path: Path) -> None:
    directory = _org(tmp_path / "org", 400)
    refused, here = _load(directory, "no-pool"), _load(directory, "here")
    assert refused.pop("helper") == [] and here.pop("helper") == []
    assert refused == here and len(here["resources"]) == 408


def test_no_helper_is_forked_within_unforked(tmp_path: Path) -> None:
    directory = _org(tmp_path / "org", 400)
    unforked, here = _load(directory, "unforked"), _load(directory, "here")
    assert unforked.pop("helper") == [] and here.pop("helper") == []
    assert unforked == here


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
    assert set(dead.pop("helper")) == {"here"}
    failed = dead.pop("failed")
    assert failed and set(failed) == {"BrokenProcessPool"}, failed  # killed, not refused
    here = _load(directory, "here")
    assert here.pop("failed") == []
    assert dead == {k: v for k, v in here.items() if k != "helper"}


@pytest.mark.parametrize("how", ["short", "helped"])
def test_a_short_list_is_read_here(tmp_path: Path, how: str) -> None:
    """Later runs under `MIN_BYTES` ("short": 400 users), or none at all (3 users)."""
    for users in (400, 3) if how == "short" else (3,):
        directory = _org(tmp_path / f"org-{users}", users)
        loaded = _load(directory, how)
        assert loaded["helper"] == []
        assert len(loaded["resources"]) == users + 8


def _org_in_files(directory: Path, files: int, wrong: dict[int, str]) -> Path:
    """An organisation whose users are in `files` files of 60 (`users-001.yaml`...), as
    export writes a large one, with a file replaced by `wrong`'s text where it says."""
    _org(directory, 0)
    (directory / "users.yaml").unlink()
    for n in range(files):
        users = "".join(f"  - email: User{60 * n + i}@Example.com\n    groups: [G{i % 3}]\n"
                        for i in range(60))
        (directory / f"users-{n + 1:03d}.yaml").write_text(wrong.get(n, "users:\n" + users))
    return directory


def test_a_helper_reads_the_later_half_of_many_files_as_this_process_would(
        tmp_path: Path) -> None:
    here, helped = _both(_org_in_files(tmp_path / "org", 8, {}))
    assert helped == here and len(here["resources"]) == 8 * 60 + 8
    assert [r[1][1] for r in here["resources"]][-1] == ["users", 59]


def test_a_file_the_helper_cannot_stand_for_is_read_here_in_its_turn(tmp_path: Path) -> None:
    """An invalid entry, a problem of a valid one, a `${...}` reference, a block, a
    lifecycle: read here, their problems in file order."""
    price = "{plan: a, amount: 1, currency: USD}"
    wrong = {
        1: "users:\n  - email: early@example.com\n    nickname: x\n",  # read here anyway
        # the helper's half: from the fifth file on
        6: f"courses:\n  - key: c-9\n    title: Nine\n    pricing: [{price}, {price}]\n",
        7: "users:\n  - email: bad\n  - email: y@example.com\n    groups: [Nope]\n",
        8: "users:\n  - email: env@example.com\n    first_name: ${env:HOME}\n",
        9: "settings: {prune: true}\nusers:\n  - email: z@example.com\n",
        10: "users:\n  - email: kept@example.com\n    lifecycle: {prevent_destroy: true}\n",
    }
    here, helped = _both(_org_in_files(tmp_path / "org", 12, wrong))
    assert helped == here
    assert [Path(p.split(":")[0]).name for p in here["problems"]] == [
        "users-002.yaml", "users-007.yaml", "users-008.yaml", "users-008.yaml"], here
    fine = _load(_org_in_files(tmp_path / "fine", 12, {9: wrong[9], 10: wrong[10]}),
                 "helped")
    kept = next(r for r in fine["resources"] if r[0] == "user.kept@example.com")
    assert kept[4]["prevent_destroy"] is True and fine["settings"]["prune"] is True


def test_a_helper_forks_no_helper_of_its_own() -> None:
    """Two processes are what two processors run: a long list in a file the helper reads
    is read by the helper alone."""
    asked = textwrap.dedent("""\
        from lmsform.config import helper
        helper._processors = lambda: 2
        may = helper._may_fork()
        forked = helper.Helper.start([(helper._may_fork, ())])
        print(may, forked is not None and list(forked.answers()))
        """)
    done = subprocess.run([sys.executable, "-c", asked], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["True", "[False]"]


def test_a_place_in_a_file_the_helper_read_is_found_when_asked(tmp_path: Path) -> None:
    """A problem found across files (a duplicate) points into a file the helper read, which
    this process reads only then."""
    again = "users:\n  - email: user5@example.com\n"  # user5 is in the first file
    here, helped = _both(_org_in_files(tmp_path / "org", 12, {10: again}))
    assert helped == here
    (problem,) = here["problems"]
    assert "users-011.yaml:2:5:" in problem and "users-001.yaml:12:5" in problem
