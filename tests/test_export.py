"""Export: the LMS written as manifests and recorded in state, on the local LMS (each vendor's
round trip runs against its simulator in tests/providers)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from lmsform import export as export_module
from lmsform.config import Config, helper, load_config
from lmsform.kinds import user as user_kind
from lmsform.providers.local import LocalProvider
from tests.support import Org, assert_export_round_trips, lmsform, recorded


def run(*args: str) -> str:
    result = lmsform(*args)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_lms_exports_to_manifests_that_plan_no_changes(org: Org, tmp_path: Path) -> None:
    org.apply()
    out = tmp_path / "exported"
    output = assert_export_round_trips(org, out)
    assert "Exported 1 region, 1 division, 2 departments, 1 course, 1 group, 2 users, " \
           "1 coupon" in output
    assert sorted(p.name for p in out.glob("*.yaml")) == [
        "coupons.yaml", "courses.yaml", "groups.yaml", "hierarchy.yaml", "lmsform.yaml",
        "users.yaml"]
    users = (out / "users.yaml").read_text()
    assert users.startswith("# Exported by `lmsform export` from local:")
    assert "password" not in users and "initial-Secret-1" not in users
    assert "department: Americas/Sales/Inside Sales" in users
    assert (out / "hierarchy.yaml").read_text().endswith(
        "hierarchy:\n  - region: Americas\n    divisions:\n      - division: Sales\n"
        "        departments: [Field Sales, Inside Sales]\n")
    assert "    groups: [Managers]\n" in users
    assert "amount: 49.00" in (out / "courses.yaml").read_text()
    assert "expires" not in (out / "coupons.yaml").read_text()
    state = json.loads((out / ".lmsform" / "state.json").read_text())
    assert len(recorded(out / ".lmsform" / "state.json")) == 9
    assert state["provider"]["instance"] == f"local:{org.db_path.resolve()}"


def test_exporting_again_gives_the_same_files(org: Org, tmp_path: Path) -> None:
    org.apply()
    run("export", "-C", str(org.dir), "--out", str(tmp_path / "a"))
    run("export", "-C", str(org.dir), "--out", str(tmp_path / "b"))
    for first in (tmp_path / "a").glob("*.yaml"):
        second = tmp_path / "b" / first.name
        stamp = re.compile(r" on \d{4}-\d\d-\d\d \d\d:\d\d UTC")
        assert stamp.sub("", first.read_text()) == stamp.sub("", second.read_text())


def test_the_check_of_what_export_wrote_forks_no_helper(
        org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export loads what it wrote while it holds the state lock, whose descriptor a forked
    helper would carry: that load is made within `helper.unforked()`."""
    loads: list[int] = []

    def load(directory: Path) -> Config:
        loads.append(helper._UNFORKED)
        return load_config(directory)

    monkeypatch.setattr(export_module, "load_config", load)
    org.apply()
    run("export", "-C", str(org.dir), "--out", str(tmp_path / "out"))
    assert loads and all(loads), loads


def test_files_are_never_overwritten_without_force(org: Org, tmp_path: Path) -> None:
    org.apply()
    out = tmp_path / "exported"
    run("export", "-C", str(org.dir), "--out", str(out))
    (out / "users.yaml").write_text("# mine\nusers: []\n")
    refused = lmsform("export", "-C", str(org.dir), "--out", str(out))
    assert refused.exit_code == 1 and "would overwrite" in refused.output
    assert (out / "users.yaml").read_text() == "# mine\nusers: []\n"
    run("export", "-C", str(org.dir), "--out", str(out), "--force")
    assert "ada@example.com" in (out / "users.yaml").read_text()


def test_kinds_export_part_of_an_lms_into_a_config_that_manages_the_rest(org: Org) -> None:
    org.apply()
    text = (org.dir / "org.yaml").read_text()
    org.write("org.yaml", text[:text.index("users:")] + text[text.index("coupons:"):])
    run("state", "rm", "user.*", "-C", str(org.dir), "--auto-approve")
    output = run("export", "-C", str(org.dir), "--kinds", "user")
    assert "Exported 2 users" in output
    assert sorted(p.name for p in org.dir.glob("*.yaml")) == ["main.yaml", "org.yaml",
                                                              "users.yaml"]
    plan = lmsform("plan", "--detailed-exitcode", "-C", str(org.dir))
    assert plan.exit_code == 0, plan.output


def test_an_export_that_would_not_load_names_the_final_files(org: Org) -> None:
    org.apply()
    run("state", "rm", "user.*", "-C", str(org.dir), "--auto-approve")
    before = sorted(p.name for p in org.dir.iterdir())
    refused = lmsform("export", "-C", str(org.dir), "--kinds", "user")
    assert refused.exit_code == 1
    assert re.search(r"users\.yaml:\d+:\d+: error: .*ada@example\.com", refused.output), \
        refused.output
    assert ".lmsform-export-" not in refused.output
    assert "nothing was written" in refused.output
    assert sorted(p.name for p in org.dir.iterdir()) == before


def test_unknown_or_unmanaged_kinds_are_refused(org: Org) -> None:
    org.apply()
    refused = lmsform("export", "-C", str(org.dir), "--kinds", "users")
    assert refused.exit_code == 1 and "--kinds: users is not a kind" in refused.output


def test_provider_only_reads_nothing_but_the_provider_block(org: Org, tmp_path: Path) -> None:
    org.apply()
    org.write("draft.yaml", "users:\n  - email: not an email\n")
    assert lmsform("export", "-C", str(org.dir), "--out", str(tmp_path / "x")).exit_code == 1
    out = tmp_path / "exported"
    run("export", "-C", str(org.dir), "--out", str(out), "--provider-only")
    assert "ada@example.com" in (out / "users.yaml").read_text()


def test_what_a_manifest_cannot_say_is_reported_not_written(org: Org, tmp_path: Path) -> None:
    org.apply()
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        lms.create("group", {"name": "Sales/Marketing"})
    finally:
        lms.close()
    out = tmp_path / "exported"
    result = lmsform("export", "-C", str(org.dir), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "not exported: group 'Sales/Marketing'" in result.output
    assert "must not contain '/'" in result.output
    assert "Sales/Marketing" not in (out / "groups.yaml").read_text()


def test_many_users_are_written_in_chunks(org: Org, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    org.apply()
    monkeypatch.setattr(user_kind, "USERS_PER_FILE", 1)
    out = tmp_path / "exported"
    assert_export_round_trips(org, out)
    assert sorted(p.name for p in out.glob("users*.yaml")) == ["users-001.yaml",
                                                               "users-002.yaml"]
    assert "ada@example.com" in (out / "users-001.yaml").read_text()


def test_a_state_of_another_lms_is_never_mixed_in(org: Org, tmp_path: Path) -> None:
    org.apply()
    out = tmp_path / "exported"
    run("export", "-C", str(org.dir), "--out", str(out))
    other = tmp_path / "other"
    other.mkdir()
    (other / "main.yaml").write_text("provider: {type: local, path: other.sqlite}\n")
    shutil.copy(org.db_path, other / "other.sqlite")
    lmsform_yaml = out / "lmsform.yaml"
    lmsform_yaml.write_text(lmsform_yaml.read_text().replace(
        f"path: {os.path.relpath(org.db_path, out)}", "path: ../other/other.sqlite"))
    before = (out / ".lmsform" / "state.json").read_text()
    refused = lmsform("export", "-C", str(out), "--force")
    assert refused.exit_code == 1 and "refusing to mix them" in refused.output
    assert (out / ".lmsform" / "state.json").read_text() == before


def test_a_value_that_shows_a_credential_is_never_written(org: Org, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("ADA_PASSWORD", "Sw0rdfish-Secret")
    org.apply()
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        (course,) = lms.list_all("course")
        lms.update("course", course.id, {"description": "Sw0rdfish-Secret"}, {})
    finally:
        lms.close()
    out = tmp_path / "exported"
    result = lmsform("export", "-C", str(org.dir), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "field description shows a credential" in result.output
    assert "Sw0rdfish" not in "".join(p.read_text() for p in out.rglob("*") if p.is_file())


def test_an_environment_exports_into_itself_with_its_shared_directory(tmp_path: Path) -> None:
    root = tmp_path / "environments"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "environments", root)
    production = root / "production"
    lmsform_yaml = production / "lmsform.yaml"
    lmsform_yaml.write_text(lmsform_yaml.read_text().replace(
        "../../../state/environments-production.json", "state.json"))
    run("apply", "-C", str(production), "--auto-approve")
    (production / "people.yaml").unlink()
    run("state", "rm", "user.*", "-C", str(production), "--auto-approve")
    run("export", "-C", str(production), "--kinds", "user")
    plan = lmsform("plan", "--detailed-exitcode", "-C", str(production))
    assert plan.exit_code == 0, plan.output


# What anyone who can edit a record may put in the LMS: references, YAML's indicators in
# every position, spellings of other types, line breaks, invisible and odd characters.
HOSTILE = [
    "${env:LMSFORM_EXPORT_TOKEN}", "x ${env:LMSFORM_EXPORT_TOKEN} y", "$${kept}", "a${b",
    "$$${odd}", "? key", ": colon", "- dash", "-", "#hash", "a #b", "a# b", "&anchor",
    "*alias", "!tag", "!!str x", "[flow", "]", "{a: b}", "}", "a: b", "a:b", "yes", "no",
    "null", "~", "true", "False", "0x10", "1e3", "0001", "1.50", ".inf", "-.5", "1_000",
    "2024-01-02", "'q", '"dq', "multi\nline", "trailing\n", "tab\tin", "|", ">", "---",
    "...", "%YAML 1.2", "@at", "`tick", ",comma", "sep\u2028arator", "\ufeffbom", "nel\x85",
    "zero\u200bwidth", "é", "back\\slash", "<<", "=",
]


def test_whatever_the_lms_holds_is_exported_as_data(org: Org, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A learner who calls themselves `${env:...}` must not get the runner's secret: every
    value reads back from the files exactly as the LMS holds it, and the state never holds
    an expansion."""
    monkeypatch.setenv("LMSFORM_EXPORT_TOKEN", "tok-Sw0rdfish-9")
    org.apply()
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        for i, text in enumerate(HOSTILE):
            name = text.strip().replace("/", "") or f"blank {i}"
            lms.create("group", {"name": f"{name} {i}" if name in {"yes"} else name,
                                 "description": text})
        (course,) = lms.list_all("course")
        lms.update("course", course.id, {"custom": {t: t for t in HOSTILE}}, {})
        lms.create("user", {"email": "mallory@example.com", "first_name":
                            "${env:LMSFORM_EXPORT_TOKEN}", "job_title": HOSTILE[1]})
    finally:
        lms.close()
    out = tmp_path / "exported"
    assert_export_round_trips(org, out)
    exported = load_config(out).resources
    descriptions = {r.attrs.get("description") for r in exported.values() if r.kind == "group"}
    assert set(HOSTILE) <= descriptions
    assert exported["course.security-101"].attrs["custom"] == {t: t for t in HOSTILE}
    mallory = exported["user.mallory@example.com"].attrs
    assert mallory["first_name"] == "${env:LMSFORM_EXPORT_TOKEN}"
    assert mallory["job_title"] == HOSTILE[1]
    written = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "Sw0rdfish" not in written


def test_a_name_that_looks_like_an_unnamed_reference_exports(org: Org, tmp_path: Path) -> None:
    org.edit("org.yaml", "groups:\n", "groups:\n  - name: '#hash'\n")
    org.edit("org.yaml", "groups: [Managers]", "groups: [Managers, '#hash']")
    org.apply()
    out = tmp_path / "exported"
    assert_export_round_trips(org, out)
    assert "    groups:\n      - '#hash'\n      - Managers\n" in (out / "users.yaml").read_text()


def test_files_that_would_not_say_what_the_lms_holds_are_never_written(
        org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check after validation: a writer that got a value wrong (here, one that forgets
    to escape a `${`) is caught before anything is written, naming the field."""
    org.apply()
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        (group,) = lms.list_all("group")
        lms.update("group", group.id, {"description": "costs $${HOME}"}, {})
    finally:
        lms.close()
    monkeypatch.setattr(export_module, "_escaped", lambda value: value)
    out = tmp_path / "exported"
    result = lmsform("export", "-C", str(org.dir), "--out", str(out))
    assert result.exit_code == 1
    assert "would not say what the LMS holds: group.Managers (description)" in result.output
    assert not out.exists() or not list(out.glob("*.yaml"))


def test_a_value_a_manifest_cannot_say_exactly_is_reported_not_changed(
        org: Org, tmp_path: Path) -> None:
    """Names are read with the spaces around them trimmed: a group the LMS calls
    `Padded ` cannot be declared as it is, so it is left out, not renamed."""
    org.apply()
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        lms.create("group", {"name": "Padded "})
    finally:
        lms.close()
    out = tmp_path / "exported"
    output = assert_export_round_trips(org, out)
    assert "not exported: group 'Padded ' (id 2): a manifest cannot say its name exactly" \
        in output
    assert "Padded" not in (out / "groups.yaml").read_text()


def test_export_keeps_what_the_config_means(org: Org, tmp_path: Path) -> None:
    """Defaults and empty lists are written (left out, they would be unmanaged), lifecycle
    protection the state knows is said again, and the state is kept out of git."""
    org.give_bob("    lifecycle: {prevent_destroy: true}\n")
    org.edit("org.yaml", "  - name: Managers\n",
             "  - name: Managers\n    lifecycle: {prevent_destroy: true}\n")
    org.apply()
    out = tmp_path / "exported"
    assert_export_round_trips(org, out)
    users = (out / "users.yaml").read_text()
    assert users.count("role: learner") == 2 and users.count("active: true") == 2
    bob = users[users.index("email: bob@example.com"):]
    assert "groups: []" in bob
    assert "lifecycle: {prevent_destroy: true}" in bob
    assert "lifecycle" not in users[:users.index("email: bob@example.com")]
    assert "    lifecycle: {prevent_destroy: true}\n" in (out / "groups.yaml").read_text()
    state = recorded(out / ".lmsform" / "state.json")
    assert state["user.bob@example.com"]["prevent_destroy"] is True
    assert ".lmsform/" in (out / ".gitignore").read_text().splitlines()
