"""The pre-commit hooks as pre-commit itself runs them, on real `git commit`s.

A temporary repository holds a config directory, the shared directory it includes, and an
Ansible-like tree whose YAML has `users:` and `groups:` keys. Its .pre-commit-config.yaml
declares this repository's hooks as `repo: local` hooks, copied from .pre-commit-hooks.yaml
(the entry pointed at this venv's lmsform: pre-commit cannot clone this repository here), so
what is tested is pre-commit's own choice of files and runs: deleted files it never passes,
files it filters, a hook that changes a file failing the commit."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
CONFIG = """\
version: 1
provider:
  type: local
  path: lms.sqlite
include: [../shared]
"""
USERS = """\
users:
  - email: ada@example.com
    first_name: Ada
    last_name: Lovelace
    groups: [Staff]
"""
ANSIBLE = """\
users:
    -   name: deploy
        groups: [wheel,   docker]
groups:
    - wheel
"""


def _dump(data: object) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, stream)
    return stream.getvalue()


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {**os.environ, "PRE_COMMIT_HOME": str(path.parent / "pre-commit-home"),
                    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.env.pop("LMSFORM_TEST_POSTGRES_DSN", None)

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=self.path, env=self.env, text=True,
                              capture_output=True)

    def write(self, name: str, text: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def commit(self, message: str) -> subprocess.CompletedProcess[str]:
        """`git commit` of what is staged, through the installed pre-commit hook; what it
        printed (git, pre-commit and the hooks') in stdout."""
        return subprocess.run(["git", "commit", "-m", message], cwd=self.path, env=self.env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository with its hooks installed and a first commit through them, made once:
    each test works in a copy of it (`repo`), pre-commit's home included."""
    r = Repo(tmp_path_factory.mktemp("precommit") / "repo")
    r.path.mkdir()
    assert r.git("init", "-q", "-b", "main").returncode == 0
    r.write(".pre-commit-config.yaml", _dump({"repos": local_hooks()}))
    r.write("lms/production/lmsform.yaml", CONFIG)
    r.write("lms/production/users.yaml", USERS)
    r.write("lms/production/groups.yaml", "groups:\n  - name: Staff\n")
    r.write("lms/shared/courses.yaml", "courses:\n  - key: gdpr\n    title: GDPR Basics\n")
    r.write("lms/shared/groups.yaml", "groups:\n  - name: Readers\n    courses: [gdpr]\n")
    r.write("ansible/group_vars/all.yml", ANSIBLE)
    r.write("ansible/roles/users/defaults/main.yaml", "groups: {admins: [root]}\n")
    installed = subprocess.run([str(BIN / "pre-commit"), "install"], cwd=r.path, env=r.env,
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    r.git("add", "-A")
    first = r.commit("start")
    assert first.returncode == 0, first.stdout
    return r.path


@pytest.fixture
def repo(started: Path, tmp_path: Path) -> Repo:
    for name in ("repo", "pre-commit-home"):
        if (started.parent / name).exists():
            shutil.copytree(started.parent / name, tmp_path / name, symlinks=True)
    return Repo(tmp_path / "repo")


def local_hooks() -> list[dict[str, object]]:
    hooks = YAML(typ="safe").load(ROOT / ".pre-commit-hooks.yaml")
    for hook in hooks:
        program, _, args = str(hook["entry"]).partition(" ")
        assert program == "lmsform"
        hook["entry"] = f"{BIN / 'lmsform'} {args}".strip()
        hook["language"] = "system"
        hook["verbose"] = True  # what a passing hook printed, shown: the tests read it
        hook.pop("description", None)
    return [{"repo": "local", "hooks": hooks}]


def test_other_tools_yaml_is_neither_formatted_nor_validated(repo: Repo) -> None:
    ansible = repo.write("ansible/group_vars/all.yml", ANSIBLE + "extra:   [1,   2]\n")
    role = repo.write("ansible/roles/users/defaults/main.yaml", "users: 42\n")
    repo.git("add", "-A")
    result = repo.commit("ansible only")
    assert result.returncode == 0, result.stdout
    assert ansible.read_text() == ANSIBLE + "extra:   [1,   2]\n"
    assert role.read_text() == "users: 42\n"
    assert "No lmsform manifests among the files given." in result.stdout


def test_deleting_a_manifest_validates_its_directory(repo: Repo) -> None:
    repo.git("rm", "-q", "lms/production/groups.yaml")  # users.yaml still names Staff
    result = repo.commit("drop the groups")
    assert result.returncode == 1
    assert "lmsform validate" in result.stdout and "Failed" in result.stdout
    assert "unknown group 'Staff'" in result.stdout
    assert repo.git("log", "--format=%s").stdout.split("\n")[0] == "start"  # not committed


def test_deleting_a_shared_manifest_validates_the_including_directories(repo: Repo) -> None:
    repo.git("rm", "-q", "lms/shared/courses.yaml")  # shared/groups.yaml names gdpr
    result = repo.commit("drop the courses")
    assert result.returncode == 1
    assert "lms/shared/groups.yaml:3:15: error: groups[0].courses[0]: unknown course 'gdpr'" \
        in result.stdout


def test_deleting_a_whole_config_directory_is_no_error(repo: Repo) -> None:
    repo.write("lms/staging/lmsform.yaml", CONFIG.replace("include: [../shared]\n", ""))
    repo.write("lms/staging/users.yaml", USERS.replace("    groups: [Staff]\n", ""))
    repo.git("add", "-A")
    assert repo.commit("staging").returncode == 0
    repo.git("rm", "-q", "-r", "lms/staging")
    result = repo.commit("no more staging")
    assert result.returncode == 0, result.stdout
    assert "lmsform validate" in result.stdout and "Passed" in result.stdout


def test_a_deletion_that_keeps_the_config_valid_passes(repo: Repo) -> None:
    repo.write("lms/production/users.yaml", USERS.replace("[Staff]", "[]"))
    repo.git("add", "-A")
    repo.git("rm", "-q", "lms/production/groups.yaml")
    result = repo.commit("no groups needed")
    assert result.returncode == 0, result.stdout
    assert "lms/production: The manifests are valid" in result.stdout


def test_fmt_rewrites_staged_manifests_and_fails_the_commit_once(repo: Repo) -> None:
    users = repo.write("lms/production/users.yaml", USERS.replace("\n  - ", "\n  -   ")
                       .replace("\n    ", "\n      "))
    ansible = repo.write("ansible/group_vars/all.yml", ANSIBLE + "# changed\n")
    repo.git("add", "-A")
    first = repo.commit("messy")
    assert first.returncode == 1
    assert "files were modified by this hook" in first.stdout
    assert users.read_text() == USERS
    assert ansible.read_text() == ANSIBLE + "# changed\n"
    repo.git("add", "-A")
    second = repo.commit("formatted")
    assert second.returncode == 0, second.stdout
